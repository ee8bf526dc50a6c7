"""The whole process: CLI commands, restarts, start-up refusals, shutdown."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from pnotify import db, migrate
from tests.serverproc import ServerProcess, run_cli, scalar, server_env


def _serve_expecting_failure(
    data_dir: Path, extra: dict[str, str] | None = None, args: tuple[str, ...] = ("--port", "0")
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pnotify", "serve", *args],
        cwd=data_dir.parent,
        env=server_env(data_dir, extra),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_restart_keeps_data_and_flushes_last_used(server: ServerProcess) -> None:
    account = server.account("restart")
    created = httpx.post(
        server.url + "/api/notifications/", json={"title": "survives"}, headers=account.headers
    )
    assert created.status_code == 201
    location = created.headers["location"]

    assert server.stop() == 0
    conn = server.connect()
    try:
        last_used = scalar(
            conn, "SELECT last_used_at FROM client_tokens WHERE id = ?", (account.token_id,)
        )
    finally:
        conn.close()
    assert last_used is not None  # written in a batch at shutdown, not per request

    server.launch()
    fetched = httpx.get(server.url + location, headers=account.headers)
    assert fetched.status_code == 200 and fetched.json()["title"] == "survives"


def test_cli_token_lifecycle_against_running_server(server: ServerProcess) -> None:
    created = run_cli(
        server.data_dir,
        "token",
        "create",
        "--name",
        "cron job",
        "--scope",
        "publish",
        env=server.env,
    )
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    assert token.startswith("pn_") and "\n" not in token
    assert "only time it is shown" in created.stderr

    headers = {"Authorization": f"Bearer {token}"}
    posted = httpx.post(
        server.url + "/api/notifications/", json={"title": "from cron"}, headers=headers
    )
    assert posted.status_code == 201
    assert httpx.get(server.url + "/api/me", headers=headers).status_code == 403  # publish scope

    listed = run_cli(server.data_dir, "token", "list", env=server.env)
    assert listed.returncode == 0
    assert "cron job" in listed.stdout and "publish" in listed.stdout
    assert token not in listed.stdout and token.split("_", 2)[2] not in listed.stdout
    token_id = next(line.split()[0] for line in listed.stdout.splitlines() if "cron job" in line)

    revoked = run_cli(server.data_dir, "token", "revoke", token_id, env=server.env)
    assert revoked.returncode == 0, revoked.stderr
    after = httpx.post(server.url + "/api/notifications/", json={"title": "late"}, headers=headers)
    assert after.status_code == 401

    again = run_cli(server.data_dir, "token", "revoke", token_id, env=server.env)
    assert again.returncode == 2 and "no token" in again.stderr


def test_cli_token_create_expiry_and_validation(tmp_data: Path) -> None:
    created = run_cli(
        tmp_data,
        "token",
        "create",
        "--name",
        "phone",
        "--device-type",
        "android",
        "--expires-in",
        "30",
    )
    assert created.returncode == 0, created.stderr
    listed = run_cli(tmp_data, "token", "list")
    line = next(line for line in listed.stdout.splitlines() if "phone" in line)
    assert "android" in line and "never" in line  # never used; expiry is a date
    assert line.rstrip().endswith("+00:00")
    for bad in (["--expires-in", "0"], ["--device-type", "toaster"], ["--scope", "admin"]):
        refused = run_cli(tmp_data, "token", "create", "--name", "x", *bad)
        assert refused.returncode == 2, bad


def test_migrate_command(tmp_data: Path) -> None:
    result = run_cli(tmp_data, "migrate")
    assert result.returncode == 0 and "up to date" in result.stderr
    conn = db.connect(tmp_data / "priority_notify.db")
    try:
        applied = conn.execute("SELECT count(*) FROM schema_migrations").fetchone()
        assert applied == (len(migrate.load_migrations()),)
    finally:
        conn.close()


def _migrated(data_dir: Path) -> Path:
    assert run_cli(data_dir, "migrate").returncode == 0
    return data_dir / "priority_notify.db"


@pytest.mark.parametrize(
    ("tampering", "message"),
    [
        (
            "UPDATE schema_migrations SET checksum = 'tampered' WHERE version = 1",
            "pnotify: applied migration 0001_init.sql was edited",
        ),
        ("INSERT INTO schema_migrations VALUES (9999, 'future', 'x', 0)", "newer than this code"),
    ],
)
def test_start_refuses_a_database_that_does_not_match(
    tmp_data: Path, tampering: str, message: str
) -> None:
    conn = db.connect(_migrated(tmp_data))
    with conn:
        conn.execute(tampering)
    conn.close()
    result = _serve_expecting_failure(tmp_data)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_start_refuses_a_file_that_is_not_sqlite(tmp_data: Path) -> None:
    tmp_data.mkdir(parents=True)
    (tmp_data / "priority_notify.db").write_bytes(b"this is not a database" * 100)
    result = _serve_expecting_failure(tmp_data)
    assert result.returncode == 2
    assert "is not an SQLite database" in result.stderr
    assert (tmp_data / "priority_notify.db").read_bytes().startswith(b"this is not")


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("PORT", "http", "PORT: expected a port number"),
        ("DATABASE_URL", "postgresql://db/pn", "DATABASE_URL: unsupported scheme"),
        ("LOG_LEVEL", "chatty", "LOG_LEVEL: expected one of"),
        (
            "AUTHENTIK_ISSUER_URL",
            "https://auth.example/application/o/pn/",
            "AUTHENTIK_CLIENT_ID: required",
        ),
    ],
)
def test_bad_configuration_is_one_clear_line(
    tmp_data: Path, name: str, value: str, message: str
) -> None:
    result = _serve_expecting_failure(tmp_data, {name: value}, args=())
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"pnotify: {message}")


def test_database_url_is_honoured(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere" / "custom.db"
    running = ServerProcess.start(
        tmp_path / "data", {"DATABASE_URL": f"sqlite+aiosqlite:///{target}"}
    )
    try:
        assert target.exists()
    finally:
        assert running.stop() == 0


def test_port_in_use_is_one_clear_line(server: ServerProcess, tmp_data: Path) -> None:
    port = server.url.rsplit(":", 1)[1]
    result = _serve_expecting_failure(tmp_data, args=("--port", port))
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .startswith(f"pnotify: cannot listen on 127.0.0.1:{port}")
    )


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),  # noqa: S104 (a string under test, not a bind)
        ("192.0.2.7", False),
        ("notify.example", False),
    ],
)
def test_local_mode_warns_off_loopback(host: str, loopback: bool) -> None:
    from pnotify.serve import _is_loopback

    assert _is_loopback(host) is loopback
