"""Limits that hold before any request reaches the app: slow or huge request heads, slow
bodies, and more connections than the server will keep open. Raw sockets, as an attacker uses.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.serverproc import ServerProcess

MAX_CONNECTIONS = 40


@pytest.fixture(scope="module")
def server_settings() -> dict[str, str]:
    return {
        "HEAD_TIMEOUT_SECONDS": "1",
        "BODY_TIMEOUT_SECONDS": "1",
        "MAX_CONNECTIONS": str(MAX_CONNECTIONS),
        "SSE_STREAMS_PER_TOKEN": "0",
    }


def _connect(server: ServerProcess) -> socket.socket:
    host, port = server.url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def _read_all(sock: socket.socket, deadline: float = 10.0) -> bytes:
    """Everything until the server closes (bounded: the socket times out)."""
    sock.settimeout(deadline)
    answer = b""
    while chunk := sock.recv(65536):
        answer += chunk
    return answer


def test_a_request_head_sent_too_slowly_is_cut(server: ServerProcess) -> None:
    with _connect(server) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\n")
        started = time.monotonic()
        sock.settimeout(0.25)
        answer = b""
        # A header line every quarter second, the way a slow-loris client holds a socket.
        while time.monotonic() - started < 8:
            try:
                sock.sendall(b"X-Drip: 1\r\n")
                chunk = sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:  # the server closed: a reset, a broken pipe
                break
            if not chunk:
                break
            answer += chunk
        assert time.monotonic() - started < 8, "the server never cut the slow head"
    assert answer.startswith(b"HTTP/1.1 408 ")


def test_an_idle_kept_alive_connection_is_closed_without_an_answer(
    server: ServerProcess,
) -> None:
    """Nothing more came after a response: at the head deadline the connection is closed, as
    uvicorn's keep-alive timer closed it, with no 408 for a request nobody sent."""
    host = server.url.removeprefix("http://").encode()
    with _connect(server) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: " + host + b"\r\n\r\n")
        started = time.monotonic()
        everything = _read_all(sock)  # the answer, then nothing until the server closes
        waited = time.monotonic() - started
    assert everything.startswith(b"HTTP/1.1 200 ")
    assert everything.count(b"HTTP/1.1 ") == 1
    assert waited < 5, "the idle connection was not closed at the 1 s head deadline"


def test_a_huge_request_head_is_431(server: ServerProcess) -> None:
    with _connect(server) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ")
        for _ in range(80):  # 80 KiB of one header line, never finished
            sock.sendall(b"x" * 1024)
        answer = _read_all(sock)
    assert answer.startswith(b"HTTP/1.1 431 ")
    assert b"request head too large" in answer


def _start_a_post(sock: socket.socket, token: str, length: int) -> None:
    """A POST whose body stops after a few bytes of the `length` it announced."""
    sock.sendall(
        b"POST /api/notifications/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Authorization: Bearer " + token.encode() + b"\r\n"
        b"Content-Type: application/json\r\nContent-Length: "
        + str(length).encode()
        + b'\r\n\r\n{"title":'
    )


def test_a_body_sent_too_slowly_is_408(server: ServerProcess) -> None:
    account = server.account("slow-body")
    with _connect(server) as sock:
        _start_a_post(sock, account.token, 100)
        answer = _read_all(sock)
    assert answer.startswith(b"HTTP/1.1 408 ")
    with httpx.Client(base_url=server.url) as client:
        assert client.get("/api/notifications/", headers=account.headers).json()["total"] == 0


@pytest.fixture
def idle_sockets(server: ServerProcess) -> Iterator[list[socket.socket]]:
    sockets: list[socket.socket] = []
    try:
        yield sockets
    finally:
        for sock in sockets:
            sock.close()


def test_idle_sockets_cannot_crowd_out_real_requests(
    server: ServerProcess, idle_sockets: list[socket.socket]
) -> None:
    # Three times the cap, none of them saying anything.
    idle_sockets.extend(_connect(server) for _ in range(MAX_CONNECTIONS * 3))
    with httpx.Client(base_url=server.url, timeout=10) as client:
        for _ in range(5):
            assert client.get("/healthz").status_code == 200
    # The oldest idle sockets were closed to make room.
    closed = sum(1 for sock in idle_sockets[:MAX_CONNECTIONS] if _read_all(sock, 5) == b"")
    assert closed == MAX_CONNECTIONS


def test_when_every_connection_is_busy_a_newcomer_gets_a_fast_503(
    tmp_path: Path,
) -> None:
    settings = {"MAX_CONNECTIONS": "4", "SSE_STREAMS_PER_TOKEN": "0"}
    running = ServerProcess.start(tmp_path / "data", settings)
    account = running.account("busy")
    try:
        with httpx.Client(base_url=running.url, timeout=10) as http:
            streams = [
                http.stream("GET", "/api/notifications/stream", headers=account.headers)
                for _ in range(4)
            ]
            try:
                for stream in streams:
                    assert stream.__enter__().status_code == 200
                with _connect(running) as sock:
                    answer = _read_all(sock)
                assert answer.startswith(b"HTTP/1.1 503 ")
                assert b"too many open connections" in answer
            finally:
                for stream in streams:
                    stream.__exit__(None, None, None)
    finally:
        running.stop()


def test_a_half_sent_body_does_not_hold_shutdown(tmp_path: Path) -> None:
    running = ServerProcess.start(tmp_path / "data")
    account = running.account("half")
    with _connect(running) as sock:
        _start_a_post(sock, account.token, 1000)
        started = time.monotonic()
        assert running.stop() == 0
        stopped_after = time.monotonic() - started
    # uvicorn's graceful timeout is 5 s: a request still reading its body must not wait it out.
    assert stopped_after < 4, stopped_after
    assert not any("Traceback" in line for line in running.lines)


def test_a_large_body_arriving_with_its_head_is_no_head(server: ServerProcess) -> None:
    """Found by schemathesis: a 120 KB body sent in the same reads as a small head."""
    account = server.account("big-body")
    body = b'{"title":"x","message":"' + b"m" * 9_000 + b'"}' + b" " * 150_000
    with _connect(server) as sock:
        sock.sendall(
            b"POST /api/notifications/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
            b"Authorization: Bearer " + account.token.encode() + b"\r\n"
            b"Content-Type: application/json\r\nContent-Length: "
            + str(len(body)).encode()
            + b"\r\n\r\n"
            + body
        )
        answer = _read_all(sock)
    assert answer.startswith(b"HTTP/1.1 201 ")


def test_a_request_the_parser_refuses_is_json(server: ServerProcess) -> None:
    with _connect(server) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nBad Header\r\n\r\n")
        answer = _read_all(sock)
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert answer.endswith(b'{"detail":"invalid HTTP request","code":"bad_request"}')
