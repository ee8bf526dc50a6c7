"""kill -9 in the middle of concurrent writes: every 201 survives, and the file stays sound."""

from __future__ import annotations

import signal
from pathlib import Path

import anyio
import httpx
import pytest

from tests.serverproc import Account, ServerProcess, scalar
from tests.sseclient import async_client

pytestmark = pytest.mark.anyio
ROUNDS = 3
WRITERS = 16
ACKS_BEFORE_KILL = 150


async def _write_until_killed(
    server: ServerProcess, account: Account, acknowledged: list[str]
) -> None:
    target = len(acknowledged) + ACKS_BEFORE_KILL

    async def writer(http: httpx.AsyncClient, index: int) -> None:
        for step in range(10_000):  # bounded; the kill ends it long before
            try:
                response = await http.post(
                    "/api/notifications/",
                    json={"title": f"w{index}-{step}"},
                    headers=account.headers,
                )
            except httpx.HTTPError:
                return  # the server is gone
            if response.status_code == 201:
                acknowledged.append(response.json()["id"])
            process = server.process
            if len(acknowledged) >= target and process is not None and process.poll() is None:
                process.send_signal(signal.SIGKILL)  # mid-load, with writes in flight

    async with async_client(server.url) as http, anyio.create_task_group() as group:
        for index in range(WRITERS):
            group.start_soon(writer, http, index)


async def test_acknowledged_writes_survive_kill_9(tmp_path: Path) -> None:
    running = ServerProcess.start(tmp_path / "data", {"TOKEN_RATE_LIMIT": "0"})
    account = running.account("crash")
    acknowledged: list[str] = []
    try:
        for _ in range(ROUNDS):
            await _write_until_killed(running, account, acknowledged)
            assert running.stop() == -signal.SIGKILL
            running.launch()  # recovers from the WAL as it starts
        conn = running.connect()
        try:
            stored = {row[0] for row in conn.execute("SELECT id FROM notifications")}
            assert scalar(conn, "PRAGMA integrity_check") == "ok"
        finally:
            conn.close()
    finally:
        running.stop()
    assert len(acknowledged) >= ROUNDS * ACKS_BEFORE_KILL
    assert set(acknowledged) <= stored
