"""The command line as an operator meets it: clear one-line errors, `--version`, `--help`,
`token list`, `login-link` that finds its server, and the `send` / `subscribe` clients."""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.oidc_provider import free_port
from tests.serverproc import Account, ServerProcess, run_cli, server_env, wait_for

PNOTIFY = [sys.executable, "-m", "pnotify"]


def _one_line_error(result: subprocess.CompletedProcess[str], *expected: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("pnotify: ")
    assert "Traceback" not in result.stderr
    for text in expected:
        assert text in lines[0]


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        (["--port", "99999"], {}, ["--port", "1 to 65535"]),
        (["--port", "-1"], {}, ["--port"]),
        (["serve", "--port", "http"], {}, ["--port"]),
        ([], {"PORT": "99999"}, ["PORT: "]),
        (["migrate"], {"DATABASE_URL": "/etc/hostname/pn.db"}, ["DATABASE_URL: ", "/etc/hostname"]),
        (["migrate"], {"DATA_DIR": "/etc/hostname/data"}, ["DATA_DIR: "]),
        (["token", "create"], {}, ["--name"]),
        (["token", "create", "--name", "x", "--scope", "root"], {}, ["--scope"]),
        (["no-such-command"], {}, ["invalid choice"]),
    ],
)
def test_bad_arguments_and_variables_are_one_line(
    tmp_data: Path, args: list[str], env: dict[str, str], expected: list[str]
) -> None:
    _one_line_error(run_cli(tmp_data, *args, env=server_env(tmp_data, env)), *expected)


def test_version_and_help(tmp_data: Path) -> None:
    version = run_cli(tmp_data, "--version")
    assert version.returncode == 0
    assert version.stdout.startswith("pnotify ")
    token_help = run_cli(tmp_data, "token", "create", "--help").stdout
    assert "(default: full)" in token_help
    assert "--expires-in DAYS" in token_help
    top = run_cli(tmp_data, "--help").stdout
    for command in ("login-link", "send", "subscribe", "backup", "token"):
        assert command in top


def test_token_list_is_aligned_and_has_json(server: ServerProcess) -> None:
    for name in ("a", "a much longer device name"):
        created = run_cli(server.data_dir, "token", "create", "--name", name, env=server.env)
        assert created.returncode == 0, created.stderr
    table = run_cli(server.data_dir, "token", "list", env=server.env).stdout.splitlines()
    columns = [line.index(word) for line, word in zip(table, ["LAST USED", "never"], strict=False)]
    assert len(set(columns)) == 1, table  # LAST USED stands above its values
    listed = json.loads(run_cli(server.data_dir, "token", "list", "--json", env=server.env).stdout)
    assert {"a", "a much longer device name"} <= {token["name"] for token in listed}


def test_login_link_from_the_wrong_folder_creates_nothing(tmp_path: Path) -> None:
    empty = tmp_path / "elsewhere" / "data"
    empty.parent.mkdir()
    result = run_cli(empty, "login-link", env=server_env(empty))
    _one_line_error(result, "DATA_DIR: ", "no database")
    assert not empty.exists()


def test_login_link_prints_the_running_servers_real_url(tmp_path: Path) -> None:
    port = free_port()
    running = ServerProcess.start(tmp_path / "data", args=["--port", str(port)])
    try:
        env = {k: v for k, v in running.env.items() if k != "PORT"}  # as a shell without PORT
        result = run_cli(running.data_dir, "login-link", env=env)
        assert result.returncode == 0, result.stderr
        link = result.stdout.strip()
        assert link.startswith(f"http://127.0.0.1:{port}/auth/local?code=")
        with httpx.Client() as browser:
            assert browser.get(link).status_code == 303
    finally:
        running.stop()
    assert not list((tmp_path / "data").glob("*.server.json"))  # removed at stop


def _pnotify(
    server: ServerProcess, account: Account, *args: str, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    env = server_env(
        server.data_dir, {"PNOTIFY_SERVER": server.url, "PNOTIFY_TOKEN": account.token}
    )
    return subprocess.run(
        [*PNOTIFY, *args],
        input=stdin,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_send(server: ServerProcess, client: httpx.Client, account: Account) -> None:
    sent = _pnotify(
        server,
        account,
        "send",
        "Backup done",
        "--message",
        "-",
        "--priority",
        "high",
        "--source",
        "nas",
        "--metadata",
        '{"size": 3}',
        stdin="3 GB in 4 min\n",
    )
    assert sent.returncode == 0, sent.stderr
    got = client.get("/api/notifications/" + sent.stdout.strip(), headers=account.headers).json()
    assert (got["title"], got["message"], got["priority"]) == (
        "Backup done",
        "3 GB in 4 min\n",
        "high",
    )
    assert got["metadata"] == {"size": 3}
    refused = _pnotify(server, Account(account.user_id, "pn_wrong", ""), "send", "x")
    assert refused.returncode == 1
    assert refused.stderr.strip().startswith("pnotify: 401: ")


@pytest.fixture
def subscriber(tmp_path: Path) -> Iterator[tuple[list[subprocess.Popen[str]], queue.Queue[str]]]:
    processes: list[subprocess.Popen[str]] = []
    lines: queue.Queue[str] = queue.Queue()
    yield processes, lines
    for process in processes:
        if process.poll() is None:
            process.kill()


def _start_subscriber(
    server: ServerProcess,
    account: Account,
    state: Path,
    holder: tuple[list[subprocess.Popen[str]], queue.Queue[str]],
) -> subprocess.Popen[str]:
    env = server_env(
        server.data_dir, {"PNOTIFY_SERVER": server.url, "PNOTIFY_TOKEN": account.token}
    )
    process = subprocess.Popen(
        [*PNOTIFY, "subscribe", "--json", "--state", str(state)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    holder[0].append(process)

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            holder[1].put(line)

    threading.Thread(target=read, daemon=True).start()
    return process


def _next_event(lines: queue.Queue[str], name: str) -> dict[str, object]:
    deadline = time.monotonic() + 20
    while True:
        event: dict[str, object] = json.loads(
            lines.get(timeout=max(0.1, deadline - time.monotonic()))
        )
        if event["event"] == name:
            return event


def _post(server: ServerProcess, account: Account, title: str) -> str:
    response = httpx.post(
        server.url + "/api/notifications/", json={"title": title}, headers=account.headers
    )
    assert response.status_code == 201
    return str(response.json()["id"])


def test_subscribe_survives_a_restart_and_misses_nothing(
    tmp_path: Path, subscriber: tuple[list[subprocess.Popen[str]], queue.Queue[str]]
) -> None:
    port = free_port()
    running = ServerProcess.start(tmp_path / "data", args=["--port", str(port)])
    account = running.account("subscriber")
    _, lines = subscriber
    try:
        process = _start_subscriber(running, account, tmp_path / "state", subscriber)
        wait_for(
            lambda: any(e.get("event") == "stream opened" for e in running.log_entries()),
            timeout=20,
        )
        before = _post(running, account, "before")
        assert _next_event(lines, "notification")["data"]["id"] == before  # type: ignore[index]
        running.stop()
        running.launch()  # the same port; the subscriber is backing off meanwhile
        missed = [_post(running, account, f"missed {n}") for n in range(3)]
        received = [_next_event(lines, "notification")["data"]["id"] for _ in missed]  # type: ignore[index]
        assert received == missed
        # Exactly once: the next notification event is the next one sent, no repeat between.
        after = _post(running, account, "after")
        assert _next_event(lines, "notification")["data"]["id"] == after  # type: ignore[index]
        process.send_signal(signal.SIGINT)
        assert process.wait(10) in (0, 130)
    finally:
        running.stop()


def test_the_service_files_in_the_readme_parse(tmp_path: Path) -> None:
    """Checked with the real tools where this machine has them (`caddy`, `systemd-analyze`)."""
    import shutil

    from tests.readme import snippet

    checked = 0
    caddy = shutil.which("caddy")
    if caddy:
        caddyfile = tmp_path / "Caddyfile"
        caddyfile.write_text(snippet("caddy"))
        result = subprocess.run(
            [caddy, "adapt", "--config", str(caddyfile)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert '"flush_interval":-1' in result.stdout
        checked += 1
    analyze = shutil.which("systemd-analyze")
    if analyze:
        unit = tmp_path / "priority-notify.service"
        unit.write_text(snippet("systemd").replace("/usr/local/bin/pnotify", sys.executable))
        result = subprocess.run(
            [analyze, "verify", str(unit)], capture_output=True, text=True, check=False
        )
        # Without a running systemd, verify can only complain about the system around it.
        problems = [line for line in result.stderr.splitlines() if str(unit.name) in line]
        assert not problems, result.stderr
        checked += 1
    if not checked:
        pytest.skip("neither caddy nor systemd-analyze is installed here")


def test_subscribe_exec_runs_a_command_per_notification(
    server: ServerProcess, account: Account, tmp_path: Path
) -> None:
    out = tmp_path / "seen.txt"
    env = server_env(
        server.data_dir, {"PNOTIFY_SERVER": server.url, "PNOTIFY_TOKEN": account.token}
    )
    command = f'echo "$PNOTIFY_PRIORITY $PNOTIFY_TITLE" >> {out}'
    process = subprocess.Popen(
        [
            *PNOTIFY,
            "subscribe",
            "--exec",
            command,
            "--min-priority",
            "high",
            "--state",
            str(tmp_path / "s"),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(
            lambda: (
                server.log_entries()
                and any(
                    e.get("event") == "stream opened" and e.get("user_id") == account.user_id
                    for e in server.log_entries()
                )
            ),
            timeout=20,
        )
        for title, priority in (("quiet", "low"), ("loud", "critical")):
            httpx.post(
                server.url + "/api/notifications/",
                json={"title": title, "priority": priority},
                headers=account.headers,
            )
        wait_for(lambda: out.exists() and "loud" in out.read_text(), timeout=20)
        assert out.read_text() == "critical loud\n"  # the low one was below --min-priority
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(10)


def test_a_local_mode_server_and_the_operator_commands_leave_heavy_libraries_unimported() -> None:
    """httpx, pyjwt, segno and importlib.metadata are a quarter of a second of every start:
    imported only by what uses them (the OIDC client, `send`/`subscribe`, a QR code,
    `--version`)."""
    probe = (
        "import sys\n"
        "import pnotify.__main__, pnotify.app\n"
        "main = pnotify.__main__._parser()\n"
        "main.parse_args(['token', 'list'])\n"
        "heavy = ('httpx', 'jwt', 'segno', 'importlib.metadata')\n"
        "print(','.join(name for name in heavy if name in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""
