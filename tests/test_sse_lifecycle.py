"""How streams end: disconnects, slow consumers, revocation and shutdown."""

from __future__ import annotations

import json
import re
import socket
import struct
from typing import Any

import anyio
import httpx
import pytest

from tests.serverproc import Account, ServerProcess, eventually
from tests.sseclient import STREAM, async_client, open_stream, post_notification

BASE = "/api/notifications/"
pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def server_settings() -> dict[str, str]:
    return {"SSE_KEEPALIVE_SECONDS": "0.3", "SSE_QUEUE_LIMIT": "100", "METRICS_TOKEN": METRICS}


METRICS = "lifecycle-metrics-token-0123456789"


async def test_disconnect_frees_the_subscription(server: ServerProcess, account: Account) -> None:
    before = server.closed_streams("disconnected")
    async with async_client(server.url) as http:
        for _ in range(3):
            async with open_stream(http, account.headers):
                pass
    await eventually(lambda: server.closed_streams("disconnected") >= before + 3)


def open_streams(server: ServerProcess) -> int:
    text = httpx.get(f"{server.url}/metrics", headers={"Authorization": f"Bearer {METRICS}"}).text
    found = re.search(r"^pnotify_sse_streams (\S+)$", text, re.MULTILINE)
    assert found is not None
    return int(float(found.group(1)))


async def test_clients_gone_before_their_stream_starts_leave_none_open(
    server: ServerProcess, account: Account
) -> None:
    """Each client sends the request and resets the connection at once: most are gone before
    their response starts (the disconnect hook then runs at once). None may leave a stream."""
    host, port = server.url.removeprefix("http://").split(":")
    request = (
        f"GET {STREAM} HTTP/1.1\r\nHost: {host}\r\n"
        f"Authorization: {account.headers['Authorization']}\r\n\r\n"
    ).encode()
    before = server.closed_streams("disconnected")
    for _ in range(20):
        with socket.create_connection((host, int(port))) as sock:
            sock.sendall(request)
            # Linger on, for 0 s: close() sends a reset, not a polite end of stream.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    await eventually(lambda: server.closed_streams("disconnected") >= before + 20)
    await eventually(lambda: open_streams(server) == 0)


async def test_a_live_stream_ignores_what_its_client_sends(server: ServerProcess) -> None:
    """Once the replay is sent the stream goes on outside the HTTP request (our protocol takes
    it over); bytes the client sends after that, even another request, change nothing."""
    account = server.account("sse-chatty")
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        head = f"GET {STREAM} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {account.token}"
        sock.sendall(head.encode() + b"\r\n\r\n")
        received = b""
        while b"event: ready" not in received:
            received += sock.recv(4096)
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nnot http at all\r\n\r\n")
        async with async_client(server.url) as http:
            await post_notification(http, account, title="still live")
        while b"still live" not in received:
            chunk = sock.recv(4096)
            assert chunk, "the server closed the stream"
            received += chunk
    assert b"HTTP/1.1 200" in received and received.count(b"HTTP/1.1") == 1


async def test_slow_consumer_is_cut_off(server: ServerProcess) -> None:
    account = server.account("sse-slow")
    before = server.closed_streams("too slow")
    host, port = server.url.removeprefix("http://").split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, int(port)))
    request = f"GET {STREAM} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {account.token}\r\n"
    sock.sendall(request.encode() + b"\r\n")
    # Read until the ready event, so the subscription exists; then never read again.
    received = b""
    while b"event: ready" not in received:
        received += sock.recv(4096)
    try:
        big = "x" * 9_000
        async with async_client(server.url) as http:
            for _ in range(600):
                await http.post(
                    BASE, json={"title": "flood", "message": big}, headers=account.headers
                )
        await eventually(lambda: server.closed_streams("too slow") > before, timeout=20)
        # The server let go of the connection: what it had buffered drains, then EOF.
        sock.settimeout(10)
        while sock.recv(1 << 20):
            pass
    finally:
        sock.close()
    # Given up on deliberately: not an application error in the log.
    assert not any("without completing response" in line for line in server.lines)


async def test_revoking_a_token_closes_its_streams(server: ServerProcess) -> None:
    account = server.account("sse-revoked")
    async with async_client(server.url) as http, open_stream(http, account.headers) as stream:
        server.revoke_elsewhere(account.token_id)
        await stream.until_end(timeout=3)
    # The server's log line is read by another thread: wait for it rather than race it.
    await eventually(lambda: server.closed_streams("credentials revoked") >= 1, timeout=5)


async def test_shutdown_with_open_streams_is_prompt(tmp_path: Any) -> None:
    running = ServerProcess.start(tmp_path / "data", {"SSE_STREAMS_PER_TOKEN": "0"})
    account = running.account("sse-shutdown")
    try:
        async with async_client(running.url) as http, anyio.create_task_group() as group:
            ready = 0
            all_ready = anyio.Event()

            async def hold() -> None:
                nonlocal ready
                async with open_stream(http, account.headers) as stream:
                    ready += 1
                    if ready == 200:
                        all_ready.set()
                    await stream.until_end(timeout=10)

            for _ in range(200):
                group.start_soon(hold)
            with anyio.fail_after(30):
                await all_ready.wait()
            running.process.send_signal(2)  # type: ignore[union-attr]
            code = await anyio.to_thread.run_sync(running.process.wait, 10)  # type: ignore[union-attr]
    finally:
        running.stop()
    assert code == 0
    # The streams ended themselves; uvicorn did not have to time out and cancel them.
    assert not any("graceful shutdown exceeded" in line for line in running.lines)
    closed = [e for e in running.log_entries() if e.get("event") == "stream closed"]
    assert len(closed) == 200 and {e["reason"] for e in closed} == {"server shutting down"}
    assert json.dumps(closed).count(account.token) == 0
