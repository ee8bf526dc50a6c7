"""What `make bench` measures, side by side: priority-notify, the seed stack (the spec's FastAPI
stack, ../shared/peers/seedstack) and the two yardsticks in ../shared/peers/ceiling (a raw
ASGI + APSW app with the same API surface, and a hello-world ASGI app). Each runs as its own
uvicorn process on loopback; `pid` is there so the harness can read its CPU time and memory.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PEERS = REPO.parent / "shared" / "peers"
sys.path.insert(0, str(REPO))

import apsw  # noqa: E402

from pnotify.storage import notification_writes as writes  # noqa: E402
from pnotify.storage import notifications as store  # noqa: E402
from pnotify.storage import replay, search_index  # noqa: E402
from pnotify.write_context import WriteContext  # noqa: E402
from tests.serverproc import ServerProcess, create_account  # noqa: E402

LIST_ROWS = 100_000
# How every uvicorn here runs: loopback, uvloop and httptools, no request lines.
UVICORN_OPTIONS = [
    "--host",
    "127.0.0.1",
    "--loop",
    "uvloop",
    "--http",
    "httptools",
    "--no-access-log",
    "--log-level",
    "warning",
]
UVICORN = [sys.executable, "-m", "uvicorn", *UVICORN_OPTIONS]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


class Target:
    name: str
    url: str
    post_token: str = ""
    list_token: str = ""
    since: str = ""
    pid: int = 0
    lists = True  # does it have the list API the list loads use?

    def stop(self) -> None:
        raise NotImplementedError


class Uvicorn(Target):
    """An app under plain uvicorn, run with this Python (the project's venv has uvicorn,
    httptools, uvloop, apsw and bcrypt: all the yardsticks need)."""

    def __init__(self, app: str, app_dir: Path, env: dict[str, str] | None = None) -> None:
        port = _free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.process = subprocess.Popen(
            [*UVICORN, "--port", str(port), "--app-dir", str(app_dir), app],
            env={**os.environ, **(env or {})},
        )
        self.pid = self.process.pid
        _wait_until_listening(port)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


class Hello(Uvicorn):
    name = "hello ASGI"
    lists = False

    def __init__(self, workdir: Path) -> None:
        super().__init__("hello:app", PEERS / "ceiling")


class RawApi(Uvicorn):
    name = "raw ASGI+APSW"
    lists = False

    def __init__(self, workdir: Path) -> None:
        env = {"DB_PATH": str(workdir / "rawapi.db")}
        seed = [sys.executable, str(PEERS / "ceiling" / "apiapp.py"), "seed"]
        self.post_token = subprocess.run(
            seed, env={**os.environ, **env}, capture_output=True, text=True, check=True
        ).stdout.strip()
        self.list_token = self.post_token
        super().__init__("apiapp:app", PEERS / "ceiling", env)


class Ours(Target):
    name = "priority-notify"
    synchronous = "FULL"  # the default: a 201 is on disk

    def __init__(self, workdir: Path) -> None:
        self.server = ServerProcess.start(
            workdir / "ours" / "data",
            # Request lines off, as the seed stack runs with --no-access-log; they cost ~7 %.
            # The per-token write limit off: one token is the whole load here.
            {
                "DB_SYNCHRONOUS": self.synchronous,
                "TOKEN_BCRYPT_ROUNDS": "12",
                "ACCESS_LOG": "false",
                "TOKEN_RATE_LIMIT": "0",
                "SSE_STREAMS_PER_TOKEN": "0",  # one token holds every stream of sse_bench
            },
        )
        self.url = self.server.url
        assert self.server.process is not None
        self.pid = self.server.process.pid
        conn = self.server.connect()
        try:
            self.post_token = create_account(conn, "bench-post").token
            lister = create_account(conn, "bench-list")
            self.list_token = lister.token
            self.since = self._bulk_insert(conn, lister.user_id)
        finally:
            conn.close()

    @staticmethod
    def _bulk_insert(conn: apsw.Connection, user_id: str) -> str:
        """100k notifications straight through the storage layer; returns a `since` for 1,000."""
        new = store.NewNotification(
            title="seeded",
            message="Disk usage on host db-1 is above 90% for 5 minutes",
            priority="high",
            source="seed",
            metadata='{"host":"db-1"}',
        )
        # One row in a thousand has a rare word, for a selective search (100 matches).
        rare = dataclasses.replace(new, title="seeded zebrafish tank warm")
        created: list[store.Notification] = []
        with conn:
            cursor, _ = replay.current_cursor(conn)
            context = WriteContext(conn, cursor)
            for index in range(LIST_ROWS):
                notification = writes.create(context, user_id, rare if index % 1000 == 7 else new)
                if index == LIST_ROWS - 1001:
                    created.append(notification)
            conn.execute(
                "UPDATE server_state SET value = ? WHERE key = 'change_cursor'",
                (context.last_cursor,),
            )
        # Leave the database as a loader alone would on closing: its ~100 MB of WAL copied into
        # the database, rather than left for the server to copy while it is being measured (an
        # artefact of loading behind a running server's back).
        conn.pragma("wal_checkpoint", "TRUNCATE")
        # Indexed here too, as its rows were written: not by the server while it is measured.
        search_index.bring_up_to_date(Path(conn.filename))
        since: str = store.Notification.to_json(created[0])["created_at"]
        return since

    def stop(self) -> None:
        self.server.stop()


class OursNormal(Ours):
    """As the raw yardstick runs: WAL with synchronous=NORMAL, no fsync per commit. Separates
    what the fan-out costs from what waiting for the disk costs."""

    name = "priority-notify, sync NORMAL"
    synchronous = "NORMAL"


class SeedStack(Target):
    name = "seed stack"

    def __init__(self, workdir: Path, source: Path = PEERS / "seedstack") -> None:
        venv = Path(tempfile.gettempdir()) / "pnotify-bench-seedstack-venv"
        if not (venv / "bin" / "uvicorn").exists():
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
            subprocess.run(
                [
                    str(venv / "bin" / "pip"),
                    "install",
                    "-q",
                    "-r",
                    str(source / "requirements.lock.txt"),
                ],
                check=True,
            )
        env = {**os.environ, "SEEDSTACK_DB": str(workdir / "seedstack.db")}
        python = str(venv / "bin" / "python")

        def seed(*args: str) -> str:
            return subprocess.run(
                [python, "seed.py", *args],
                cwd=source,
                env=env,
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()

        self.post_token = seed("--user", "post")
        self.list_token = seed("--user", "list")
        # `--token=`: a token may begin with "-", which argparse would take for an option.
        seed("--bulk", str(LIST_ROWS), f"--token={self.list_token}")
        port = _free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.process = subprocess.Popen(
            [
                str(venv / "bin" / "uvicorn"),
                "app:app",
                "--port",
                str(port),
                *UVICORN_OPTIONS,
            ],
            cwd=source,
            env=env,
        )
        self.pid = self.process.pid
        _wait_until_listening(port)
        # Its bulk rows end 1 s before seeding, 10 ms apart: 1,000 rows come after this one.
        with closing(sqlite3.connect(workdir / "seedstack.db")) as seeded:
            (newest,) = seeded.execute(
                "SELECT created_at FROM notification WHERE title = ?",
                (f"seeded #{LIST_ROWS - 1001}",),
            ).fetchone()
        self.since = newest.replace(" ", "T")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_listening(port: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError("seed stack did not start")
