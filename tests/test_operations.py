"""Operations through real processes: health, metrics, request logs and their redaction,
backup under load and restore, retention, shutdown with work in flight, start-up refusals."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from pnotify import db
from pnotify.clock import DAY_US, now_us
from pnotify.retention import RetentionPolicy, sweep_batch
from pnotify.storage import notification_writes as writes
from pnotify.storage import notifications as store
from pnotify.storage import replay, search_index, users
from pnotify.write_context import WriteContext
from tests.serverproc import ServerProcess, run_cli, scalar, server_env
from tests.sseclient import async_client, open_stream

BASE = "/api/notifications/"


def test_backup_under_write_load_and_restore(server: ServerProcess, tmp_path: Path) -> None:
    account = server.account("backup")
    acknowledged: list[str] = []
    stop = threading.Event()

    def write_continuously() -> None:
        with httpx.Client(base_url=server.url) as writer:
            while not stop.is_set():
                response = writer.post(BASE, json={"title": "under load"}, headers=account.headers)
                assert response.status_code == 201
                acknowledged.append(response.json()["id"])

    thread = threading.Thread(target=write_continuously)
    thread.start()
    try:
        while len(acknowledged) < 50:
            time.sleep(0.01)
        before_backup = list(acknowledged)
        copy = tmp_path / "copy.db"
        result = run_cli(server.data_dir, "backup", str(copy), env=server.env)
        assert result.returncode == 0, result.stderr
        written_during = len(acknowledged) - len(before_backup)
    finally:
        stop.set()
        thread.join()
    assert written_during > 0  # the server kept writing while the backup ran

    conn = db.connect(copy, "NORMAL")
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        stored = {
            str(i)
            for (i,) in conn.execute(
                "SELECT id FROM notifications WHERE user_id = ?", (account.user_id,)
            )
        }
    finally:
        conn.close()
    assert set(before_backup) <= stored
    assert not Path(str(copy) + "-wal").exists()

    refused = run_cli(server.data_dir, "restore", str(copy), env=server.env)
    assert refused.returncode == 2 and "stop it first" in refused.stderr
    assert (
        run_cli(server.data_dir, "backup", str(copy), env=server.env).returncode == 2
    )  # never overwrites a file

    server.stop()
    restored = run_cli(server.data_dir, "restore", str(copy), env=server.env)
    assert restored.returncode == 0, restored.stderr
    # The search index is made anew from the restored rows (it held the later ones too).
    assert not search_index.index_path(server.database_path).exists()
    server.launch()
    listed = httpx.get(server.url + BASE, params={"limit": 1}, headers=account.headers).json()
    assert listed["total"] == len(stored)
    found = httpx.get(
        server.url + BASE, params={"q": "load", "limit": 1}, headers=account.headers
    ).json()
    assert found["total"] == len(stored)


def test_a_second_server_on_the_same_database_is_refused(server: ServerProcess) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pnotify", "serve", "--port", "0"],
        cwd=server.data_dir.parent,
        env=server.env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2 and "is using" in result.stderr


def test_retention_sweep_with_a_fake_clock(tmp_path: Path) -> None:
    conn = db.open_and_migrate(tmp_path / "r.db")
    user = users.upsert(conn, "i", "retention", "", "", login=False)
    new = store.NewNotification("t", None, "medium", None, None)
    now = now_us()
    with conn:
        context = WriteContext(conn, 0)
        ids = [writes.create(context, user.id, new).id for _ in range(4)]
        writes.set_status(context, user.id, ids[0], "read")
        writes.set_status(context, user.id, ids[1], "archived")
        writes.set_status(context, user.id, ids[2], "read")
        writes.delete(context, user.id, ids[3], deleted_at=now)
        conn.execute(
            "UPDATE server_state SET value = ? WHERE key = 'change_cursor'", (context.last_cursor,)
        )
    policy = RetentionPolicy(
        archive_after_days=30, delete_archived_after_days=60, tombstone_days=90
    )

    def sweep(at: int) -> int:
        with conn:
            ctx = WriteContext(
                conn,
                int(scalar(conn, "SELECT value FROM server_state WHERE key = 'change_cursor'")),
            )
            done = sweep_batch(ctx, policy, at, 2)
            conn.execute(
                "UPDATE server_state SET value = ? WHERE key = 'change_cursor'", (ctx.last_cursor,)
            )
        return done

    assert sweep(now + 10 * DAY_US) == 0  # nothing is old enough yet, tombstone not either
    before_sweep, _ = replay.current_cursor(conn)
    while sweep(now + 31 * DAY_US):
        pass  # small batches, until done
    statuses = {i: store.get(conn, user.id, i).status for i in ids[:3]}  # type: ignore[union-attr]
    assert statuses == {ids[0]: "archived", ids[1]: "archived", ids[2]: "archived"}
    synced = replay.changes_after(conn, user.id, before_sweep, 10)  # other devices learn of it
    assert {(c.notification_id, c.kind) for c in synced} == {
        (ids[0], "status_change"),
        (ids[2], "status_change"),
    }
    while sweep(now + 61 * DAY_US):
        pass
    assert all(store.get(conn, user.id, i) is None for i in ids[:3])
    _, replayable = replay.current_cursor(conn)
    assert replayable == 0
    while sweep(now + 200 * DAY_US):
        pass
    assert conn.execute("SELECT count(*) FROM tombstones").fetchone() == (0,)
    current, replayable = replay.current_cursor(conn)
    assert 0 < replayable <= current
    conn.close()


@pytest.mark.anyio
async def test_retention_runs_in_the_server_and_clients_sync(tmp_path: Path) -> None:
    running = ServerProcess.start(
        tmp_path / "data",
        {
            "AUTO_ARCHIVE_AFTER_DAYS": "30",
            "RETENTION_INTERVAL_SECONDS": "0.2",
            "SSE_KEEPALIVE_SECONDS": "5",
        },
    )
    try:
        account = running.account("retention")
        async with async_client(running.url) as http:
            created = (
                await http.post(BASE, json={"title": "old news"}, headers=account.headers)
            ).json()
            await http.patch(BASE + created["id"], json={"status": "read"}, headers=account.headers)
            async with open_stream(http, account.headers) as stream:
                conn = running.connect()
                try:
                    with conn:  # forty days ago
                        conn.execute(
                            "UPDATE notifications SET created_at = created_at - ? WHERE id = ?",
                            (40 * DAY_US, created["id"]),
                        )
                finally:
                    conn.close()
                event = await stream.next_named("status_change", timeout=10)
        assert event.json["id"] == created["id"] and event.json["status"] == "archived"
    finally:
        running.stop()


@pytest.mark.anyio
async def test_sigterm_with_streams_and_writes_in_flight(tmp_path: Path) -> None:
    running = ServerProcess.start(tmp_path / "data")
    account = running.account("sigterm")
    acknowledged: list[str] = []
    try:
        async with async_client(running.url) as http:
            streams = [open_stream(http, account.headers) for _ in range(20)]
            for stream in streams:
                await stream.__aenter__()

            async def write() -> None:
                while True:
                    try:
                        response = await http.post(
                            BASE, json={"title": "in flight"}, headers=account.headers
                        )
                    except httpx.HTTPError:
                        return
                    if response.status_code != 201:
                        return
                    acknowledged.append(response.json()["id"])

            import anyio

            async with anyio.create_task_group() as group:
                for _ in range(8):
                    group.start_soon(write)
                while len(acknowledged) < 100:
                    await anyio.sleep(0.01)
                started = time.monotonic()
                running.process.send_signal(signal.SIGTERM)  # type: ignore[union-attr]
                code = await anyio.to_thread.run_sync(running.process.wait, 15)  # type: ignore[union-attr]
                exit_seconds = time.monotonic() - started
            for stream in streams:
                await stream.__aexit__(None, None, None)
    finally:
        running.stop()
    assert code == 0
    assert exit_seconds < 5  # uvicorn's own time-out is 5 s: the streams did not need it
    assert not any("graceful shutdown exceeded" in line for line in running.lines)
    conn = db.connect(running.database_path, "NORMAL")
    try:
        stored = {str(i) for (i,) in conn.execute("SELECT id FROM notifications")}
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    finally:
        conn.close()
    assert set(acknowledged) <= stored  # every 201 survived
    assert (
        not Path(str(running.database_path) + "-wal").exists()
        or Path(str(running.database_path) + "-wal").stat().st_size == 0
    )


def test_start_up_refuses_a_data_dir_it_cannot_create(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    result = subprocess.run(
        [sys.executable, "-m", "pnotify", "serve", "--port", "0"],
        cwd=tmp_path,
        env=server_env(blocker / "data"),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("pnotify: DATA_DIR: cannot write")
    assert "Traceback" not in result.stderr


def test_expired_sessions_and_links_are_purged(tmp_path: Path) -> None:
    running = ServerProcess.start(tmp_path / "data", {"RETENTION_INTERVAL_SECONDS": "0.1"})
    try:
        conn = running.connect()
        try:
            # The start-up link is there, unexpired, so nothing purges it yet.
            assert conn.execute("SELECT count(*) FROM login_links").fetchone() == (1,)
            with conn:
                conn.execute("UPDATE sessions SET expires_at = 0")
                conn.execute("UPDATE login_links SET expires_at = 0")

            def remaining() -> int:
                sessions = scalar(conn, "SELECT count(*) FROM sessions")
                return int(sessions) + int(scalar(conn, "SELECT count(*) FROM login_links"))

            deadline = time.monotonic() + 10
            while remaining():
                assert time.monotonic() < deadline, "expired rows were not purged"
                time.sleep(0.05)
        finally:
            conn.close()
    finally:
        running.stop()
