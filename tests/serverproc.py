"""A real `python -m pnotify` process on a loopback port, for tests and benchmarks.

The server binds port 0 and logs a JSON `started` line with its URL once its lifespan start-up
has completed; the harness waits for that line instead of sleeping or polling.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import apsw

from pnotify import db
from pnotify.storage import client_tokens as token_store
from pnotify.storage import users

T = TypeVar("T")
REPO_ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT = 30.0
TEST_BCRYPT_ROUNDS = 4  # bcrypt's minimum; production uses 12 (see ntfy's bcrypt.MinCost)


def server_env(data_dir: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AUTHENTIK_", "PNOTIFY_"))
        and key not in ("SECRET_KEY", "DATABASE_URL")
    }
    env.update(
        {
            "DATA_DIR": str(data_dir),
            "TOKEN_BCRYPT_ROUNDS": str(TEST_BCRYPT_ROUNDS),
            "LOG_LEVEL": "INFO",
            "PYTHONPATH": str(REPO_ROOT),
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra or {})
    return env


@dataclass
class ServerProcess:
    data_dir: Path
    env: dict[str, str]
    args: list[str] = field(default_factory=list)
    process: subprocess.Popen[str] | None = None
    url: str = ""
    lines: list[str] = field(default_factory=list)
    _started: threading.Event = field(default_factory=threading.Event)
    _reader: threading.Thread | None = None

    @classmethod
    def start(
        cls,
        data_dir: Path,
        extra_env: Mapping[str, str] | None = None,
        args: list[str] | None = None,
    ) -> ServerProcess:
        server = cls(data_dir, server_env(data_dir, extra_env), args or [])
        server.launch()
        return server

    @property
    def database_path(self) -> Path:
        return Path(self.env.get("DATABASE_URL") or self.data_dir / "priority_notify.db")

    def command(self) -> list[str]:
        return [sys.executable, "-m", "pnotify", "serve", "--port", "0", *self.args]

    def launch(self) -> None:
        self._started.clear()
        self.lines = []
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            self.command(),
            cwd=self.data_dir.parent,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._reader = threading.Thread(target=self._read_log, daemon=True)
        self._reader.start()
        if not self._started.wait(START_TIMEOUT) or not self.url:
            self.stop()
            raise RuntimeError("server did not start:\n" + "\n".join(self.lines[-30:]))

    def _read_log(self) -> None:
        assert self.process is not None and self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line.rstrip("\n"))
            if not self._started.is_set():
                entry = _json_line(line)
                if entry.get("event") == "started" and entry.get("logger") == "pnotify.app":
                    self.url = str(entry["url"])
                    self._started.set()
        self._started.set()  # the process ended: wake a waiting launch()

    def log_entries(self) -> list[dict[str, Any]]:
        return [entry for entry in map(_json_line, list(self.lines)) if entry]

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        """Signal the process and wait for it; returns the exit code."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        if self._reader is not None:
            self._reader.join(5)
        return code

    def restart(self) -> None:
        self.stop()
        self.launch()

    def closed_streams(self, reason: str) -> int:
        """How many streams the server has logged as closed for this reason."""
        return sum(
            1
            for entry in self.log_entries()
            if entry.get("event") == "stream closed" and entry.get("reason") == reason
        )

    def connect(self) -> apsw.Connection:
        """A connection to the server's database, for setting up users straight in storage."""
        return db.connect(self.database_path, "NORMAL")

    def revoke_elsewhere(self, token_id: str) -> None:
        """Revoke a token from another process, as `python -m pnotify token revoke` does."""
        conn = self.connect()
        try:
            with conn:
                conn.execute("DELETE FROM client_tokens WHERE id = ?", (token_id,))
        finally:
            conn.close()

    def sign_in_link(self) -> str:
        """The one-time local-mode link the server printed at start-up."""
        for line in self.lines:
            found = re.search(r"(http://\S+/auth/local\?code=\S+)", line)
            if found:
                return found.group(1)
        raise AssertionError("the server printed no sign-in link")

    def local_account(self, name: str, **options: Any) -> Account:
        """Another token for the local-mode user (the one a sign-in link signs in)."""
        conn = self.connect()
        try:
            with conn:
                local = users.local_user(conn)
            return create_account(conn, name, user_id=local.id, **options)
        finally:
            conn.close()

    def account(self, name: str, **options: Any) -> Account:
        """A user (or another token for `user_id=`) made straight through storage."""
        conn = self.connect()
        try:
            return create_account(conn, name, **options)
        finally:
            conn.close()


def _json_line(line: str) -> dict[str, Any]:
    try:
        value = json.loads(line)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


@dataclass(frozen=True)
class Account:
    """A user and a full-access token, created through the storage layer."""

    user_id: str
    token: str
    token_id: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def create_account(
    conn: apsw.Connection,
    name: str,
    *,
    scope: str = "full",
    expires_at: int | None = None,
    user_id: str | None = None,
) -> Account:
    if user_id is None:
        user_id = users.upsert(
            conn, "https://idp.test/", name, f"{name}@example.test", name, login=True
        ).id
    new = token_store.create(
        conn,
        user_id,
        f"{name}-{scope}",
        scope=scope,
        expires_at=expires_at,
        rounds=TEST_BCRYPT_ROUNDS,
    )
    return Account(user_id, new.plaintext, new.row.id)


def wait_for(predicate: Callable[[], T | None], timeout: float = 10.0) -> T:
    """Re-check a condition that another process makes true, and return its first truthy value
    (no fixed sleeps: a bounded poll of the condition itself)."""
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)
    return value


async def eventually(predicate: Callable[[], object], timeout: float = 10.0) -> None:
    """`wait_for` for async tests: polls without blocking the event loop."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


def scalar(conn: apsw.Connection, sql: str, params: tuple[Any, ...] = ()) -> Any:
    """The first column of the one row a query must return."""
    row = conn.execute(sql, params).fetchone()
    assert row is not None, sql
    return row[0]


def run_cli(
    data_dir: Path, *args: str, env: Mapping[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """`python -m pnotify ARGS` as an operator runs it, beside the data directory."""
    return subprocess.run(
        [sys.executable, "-m", "pnotify", *args],
        cwd=data_dir.parent,
        env=dict(env) if env is not None else server_env(data_dir),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def session_cookie_for(server: ServerProcess, user_id: str) -> str:
    """A signed session cookie value for a user, made through storage (for isolation tests)."""
    from pnotify.auth import signing
    from pnotify.storage import sessions

    key = (server.data_dir / "secret_key").read_text().strip().encode()
    conn = server.connect()
    try:
        with conn:
            raw = sessions.create(conn, user_id, 3600, None)
    finally:
        conn.close()
    return signing.sign([key], "session", raw, 3600)
