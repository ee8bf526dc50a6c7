"""An answer made ahead (responses.Response.prepare, while a batch commits) goes out as made, or
is made again when the connection may no longer be kept alive: our protocol (protocol.py) and
uvicorn's request cycle for real, over a transport that records what is written."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import pytest
import uvicorn
from uvicorn.server import ServerState

from pnotify.connections import ConnectionLimits
from pnotify.http import CONNECTION, Receive, Scope, Send
from pnotify.protocol import GuardedHttpProtocol, protocol_class
from pnotify.responses import Response

pytestmark = pytest.mark.anyio

REQUEST = b"POST /api/notifications/ HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\n\r\n{}"


class RecordingTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written = b""
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += bytes(data)

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        addresses = {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 50000)}
        return addresses.get(name, default)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0

    def can_write_eof(self) -> bool:
        return False


@dataclass
class Answered:
    made_ahead: bytes | None
    written: bytes
    closed: bool  # whether the server closed the connection after answering


async def _answer(stop_meanwhile: bool) -> Answered:
    """One request through our protocol; its app makes the answer ahead, and — if asked — the
    server starts stopping before the answer is sent."""
    made_ahead: list[bytes | None] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        response = Response.json({"made": "ahead"}, 201).prepare(scope)
        made_ahead.append(response.wire)
        if stop_meanwhile:
            connection: GuardedHttpProtocol = scope[CONNECTION]
            connection.shutdown()  # what uvicorn does to each connection on SIGTERM
        await response.send(send, scope)

    config = uvicorn.Config(app, lifespan="off", log_level="warning")
    config.load()
    state = ServerState()
    protocol = protocol_class(ConnectionLimits())(config=config, server_state=state, app_state={})
    transport = RecordingTransport()
    protocol.connection_made(transport)
    protocol.data_received(REQUEST)
    await asyncio.gather(*state.tasks)
    answered = Answered(made_ahead[0], transport.written, transport.closed)
    protocol.connection_lost(None)  # the client leaves: the connection's timers stop
    return answered


async def test_an_answer_made_ahead_is_written_as_made() -> None:
    answered = await _answer(stop_meanwhile=False)
    assert answered.made_ahead is not None
    assert answered.made_ahead.startswith(b"HTTP/1.1 201 Created\r\n")
    assert answered.written == answered.made_ahead
    assert not answered.closed


async def test_an_answer_made_before_the_server_began_stopping_is_made_again() -> None:
    answered = await _answer(stop_meanwhile=True)
    assert answered.made_ahead is not None and b"connection: close" not in answered.made_ahead
    assert answered.written.count(b"\r\nconnection: close\r\n") == 1
    assert answered.written.endswith(b'\r\n\r\n{"made":"ahead"}')
    assert answered.closed
