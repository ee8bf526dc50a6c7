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
    assert json.loads(_instructions("ENTRYPOINT")[0]) == ["python", "-m", "pnotify"]
    assert "HOST=0.0.0.0" in DOCKERFILE and "DATA_DIR=/data" in DOCKERFILE
    copied = {line.split()[0] for line in _instructions("COPY") if not line.startswith("--from")}
    assert {"pnotify", "sql", "templates", "static"} <= copied
    assert len(_instructions("HEALTHCHECK")) == 1


def _healthcheck_command() -> list[str]:
    healthcheck = _instructions("HEALTHCHECK")[0]
    command: list[str] = json.loads(healthcheck.split("CMD", 1)[1].strip())
    return command


@pytest.mark.skipif(shutil.which("python3") is None, reason="needs python3 to make a venv")
def test_install_and_run_as_the_image_does(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    python = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    # The build stage's RUN, step by step (the image runs the project from /app, not from
    # site-packages, so the project itself is uninstalled after its dependencies are in).
    assert "pip install -c constraints.txt ." in DOCKERFILE
    assert "pip uninstall -y priority-notify" in DOCKERFILE
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run(
        [*pip, "-c", str(REPO_ROOT / "constraints.txt"), str(REPO_ROOT)], check=True, cwd=tmp_path
    )
    subprocess.run(
        [str(python), "-m", "pip", "uninstall", "--quiet", "-y", "priority-notify"], check=True
    )
    app = tmp_path / "app"
    for folder in ("pnotify", "sql", "templates", "static"):
        shutil.copytree(
            REPO_ROOT / folder, app / folder, ignore=shutil.ignore_patterns("__pycache__")
        )
    port = free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AUTHENTIK_", "PYTHONPATH"))
    } | {
        "DATA_DIR": str(tmp_path / "data"),
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "PYTHONUNBUFFERED": "1",
    }
    process = subprocess.Popen(
        [str(python), "-m", "pnotify"], cwd=app, env=env, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stderr is not None
        for line in process.stderr:
            if '"event": "started"' in line:
                break
        else:
            pytest.fail("the server did not start")
        response = httpx.get(f"http://127.0.0.1:{port}/healthz")
        assert response.json() == {"status": "ok"}
        probe = _healthcheck_command()
        probe[0] = str(python)
        assert subprocess.run(probe, env=env, timeout=10, check=False).returncode == 0
        process.send_signal(signal.SIGTERM)
        assert process.wait(15) == 0
    finally:
        if process.poll() is None:
            process.kill()
