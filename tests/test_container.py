"""The Dockerfile, checked without a Docker engine (none runs on these machines): its
instructions are read, and its install and run steps are repeated in a fresh virtualenv."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.oidc_provider import free_port
from tests.serverproc import REPO_ROOT

DOCKERFILE = (REPO_ROOT / "Dockerfile").read_text()


def _instructions(name: str) -> list[str]:
    joined = DOCKERFILE.replace("\\\n", " ")
    return [
        line.split(None, 1)[1].strip()
        for line in joined.splitlines()
        if line.startswith(name + " ")
    ]


def test_dockerfile_shape() -> None:
    assert _instructions("FROM") == ["python:3.13-slim AS build", "python:3.13-slim"]
    assert _instructions("USER") == ["pnotify"]  # never root at run time
    assert _instructions("VOLUME") == ['["/data"]']
    assert json.loads(_instructions("ENTRYPOINT")[0]) == ["pnotify"]
    assert "HOST=0.0.0.0" in DOCKERFILE
    assert "DATA_DIR=/data" in DOCKERFILE
    # The final stage gets the virtualenv and nothing else: no source.
    final_stage = DOCKERFILE.split("FROM python:3.13-slim\n", 1)[1]
    copied = [line for line in final_stage.splitlines() if line.startswith("COPY")]
    assert copied == ["COPY --from=build /venv /venv"]
    assert "pip wheel --no-deps --wheel-dir /wheels ." in DOCKERFILE
    assert len(_instructions("HEALTHCHECK")) == 1


def _healthcheck_command() -> list[str]:
    healthcheck = _instructions("HEALTHCHECK")[0]
    command: list[str] = json.loads(healthcheck.split("CMD", 1)[1].strip())
    return command


def _install_the_wheel(tmp_path: Path) -> Path:
    """Build the wheel and install it, with its pinned dependencies, into a fresh virtualenv
    outside the tree; returns the virtualenv."""
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(wheels), "."],
        cwd=REPO_ROOT,
        check=True,
    )
    shutil.rmtree(REPO_ROOT / "build", ignore_errors=True)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    (wheel,) = wheels.glob("priority_notify-*.whl")
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    constraints = ["--disable-pip-version-check", "-c", str(REPO_ROOT / "constraints.txt")]
    subprocess.run([*pip, *constraints, str(wheel)], check=True, cwd=tmp_path)
    return venv


@pytest.mark.skipif(shutil.which("python3") is None, reason="needs python3 to make a venv")
def test_the_wheel_installs_and_runs_from_any_folder(tmp_path: Path) -> None:
    """What the image does (and `pipx install .`): build the wheel, install it outside the
    tree, and run `pnotify` from an unrelated folder with no DATA_DIR."""
    venv = _install_the_wheel(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    port = free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AUTHENTIK_", "PYTHONPATH", "DATA_DIR", "DATABASE_URL"))
    } | {
        "XDG_DATA_HOME": str(tmp_path / "xdg"),
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "PYTHONUNBUFFERED": "1",
    }
    process = subprocess.Popen(
        [str(venv / "bin" / "pnotify")], cwd=elsewhere, env=env, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stderr is not None
        seen = []
        for line in process.stderr:
            seen.append(line)
            if '"event": "started"' in line:
                break
        else:
            pytest.fail("the server did not start:\n" + "".join(seen))
        assert any(str(tmp_path / "xdg" / "priority-notify") in line for line in seen)
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(base + "/healthz").json() == {"status": "ok"}
        assert httpx.get(base + "/static/style.css").status_code == 200
        sign_in = httpx.get(base + "/auth/login")
        assert sign_in.status_code == 200
        assert "pnotify login-link" in sign_in.text
        probe = _healthcheck_command()
        probe[0] = str(venv / "bin" / "python")
        assert subprocess.run(probe, env=env, timeout=10, check=False).returncode == 0
        process.send_signal(signal.SIGTERM)
        assert process.wait(15) == 0
    finally:
        if process.poll() is None:
            process.kill()
    assert list(elsewhere.iterdir()) == []  # nothing written where it was started
