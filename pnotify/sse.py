"""Server-Sent Events: the framing (pure functions from values to the bytes on the wire) and the
transport (a streaming response that writes them).

As in sse-starlette's `event.py`: multi-line data becomes several `data:` lines, and carriage
returns and newlines are stripped from `event` and `id`, which must stay on one line.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

from pnotify.http import Message, Receive, Scope, Send
from pnotify.responses import Response, constant_headers


class StreamConnection(Protocol):
    """What our HTTP protocol offers a streaming response beyond ASGI (under the scope's
    `http.CONNECTION`)."""

    def on_disconnect(self, callback: Callable[[], None] | None) -> None:
        """Run `callback` once the client is gone (at once if it is); None forgets it."""

    def write_body(self, data: bytes) -> int:
        """Write `data` now as the next piece of the started response's body, without a task's
        round trip through ASGI `send()`; returns how many bytes still wait to go out."""

    @property
    def backed_up(self) -> bool:
        """The client is not taking what is written: an ASGI `send()` would wait."""

    def abandon(self) -> None:
        """Give up on finishing the response: close once what is written has gone out."""

    def start_body(self, scope: Scope, headers: list[tuple[bytes, bytes]], first: bytes) -> None:
        """Write a 200 with `headers` and `first` as the first chunk of its body, in one go, as
        the answer to the request of `scope`."""

    def take_over(self, on_client_gone: Callable[[], None]) -> None:
        """Let the ASGI request end while the response goes on: the caller writes the rest with
        `write_body` and ends it with `finish` or `abandon`."""

    def finish(self) -> None:
        """End a taken-over response's body and close the connection (at once, without the
        body's end, if the client has stopped reading)."""


STREAM_HEADERS = constant_headers(
    ("content-type", "text/event-stream; charset=utf-8"),
    ("cache-control", "no-store"),
    ("x-accel-buffering", "no"),  # nginx: pass each event on at once
)

_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def _single_line(value: str) -> str:
    return _LINE_BREAK.sub("", value)


def event(data: str, *, name: str | None = None, event_id: str | int | None = None) -> bytes:
    lines: list[str] = []
    if event_id is not None:
        lines.append(f"id: {_single_line(str(event_id))}")
    if name is not None:
        lines.append(f"event: {_single_line(name)}")
    lines.extend(f"data: {line}" for line in _LINE_BREAK.split(data))
    return ("\n".join(lines) + "\n\n").encode()


def comment(text: str = "") -> bytes:
    """A `:` line, ignored by clients: keepalive that also defeats proxy idle time-outs."""
    return (
        "".join(f": {line}\n" if line else ":\n" for line in _LINE_BREAK.split(text)).encode()
        + b"\n"
    )


def retry(milliseconds: int) -> bytes:
    return f"retry: {int(milliseconds)}\n\n".encode()


class EventStreamResponse(Response):
    """`text/event-stream` from an async iterator of encoded events, as raw ASGI body chunks.

    After sse-starlette's `EventSourceResponse(content=...)` and starlette's StreamingResponse:
    the content and a listener for `http.disconnect` run side by side, and whichever ends first
    ends the other (uvicorn's `send()` does nothing once the client is gone, so a send-only loop
    would never learn it). Under our own protocol the listener is a callback on the connection
    (`StreamConnection.on_disconnect`), not a task: a thousand idle streams hold a thousand
    fewer tasks.

    When the content ends, `hand_over` (if set) may take the stream on outside ASGI (it returns
    True): then the response is done, the connection stays open, and `on_end` is not called
    here but by whoever took it over (under our protocol an idle stream is then no request).

    `interrupt()` ends the stream from outside — a subscription closed as too slow, revoked or
    at shutdown — also while a send waits on a client that stopped reading; then the connection
    is abandoned (uvicorn closes it) instead of finished cleanly. So is one whose client has
    stopped reading what the content wrote past `send()` (`StreamConnection.write_body`).
    """

    def __init__(
        self,
        receive: Receive,
        content: AsyncIterator[bytes] | None = None,
        connection: StreamConnection | None = None,
    ) -> None:
        super().__init__(200, b"", list(STREAM_HEADERS))
        self.receive = receive
        self.connection = connection
        self.content = content
        self.on_end: Callable[[], None] | None = None  # called once the stream has ended
        self.hand_over: Callable[[], bool] | None = None
        self._task: asyncio.Task[Any] | None = None
        self._sending = False
        self._cancelled_here = False

    def interrupt(self, *_: object) -> None:
        """Cut a send that is waiting on the client; otherwise the content ends by itself."""
        if self._sending:
            self._cancel()

    def _cancel(self) -> None:
        if self._task is not None and not self._cancelled_here:
            self._cancelled_here = True
            self._task.cancel()

    async def send(self, send: Send, scope: Scope | None = None) -> None:
        """Run the stream; under our protocol, `scope` says which request it answers."""
        assert self.content is not None, "an event stream needs its content"
        self._task = asyncio.current_task()
        watcher: asyncio.Task[None] | None = None
        if self.connection is not None:
            self.connection.on_disconnect(self._cancel)
        else:
            watcher = asyncio.get_running_loop().create_task(self._watch_disconnect())
        handed_over = False
        try:
            if self.connection is not None:  # the head and the first chunk in one write
                first = await anext(self.content, b"")
                self.connection.start_body(scope or {}, self.raw_headers(), first)
            else:
                await self._guarded(
                    send,
                    {"type": "http.response.start", "status": 200, "headers": self.raw_headers()},
                )
            # One message dict for every chunk (uvicorn reads it at once and keeps nothing), and
            # the send inline rather than through _guarded: under another server this loop runs
            # once per event per stream, a thousand times for one notification.
            body: Message = {"type": "http.response.body", "body": b"", "more_body": True}
            async for chunk in self.content:
                body["body"] = chunk
                self._sending = True
                try:
                    await send(body)
                finally:
                    self._sending = False
            if self.connection is not None and self.hand_over is not None:
                handed_over = self.hand_over()  # its take_over() listens for the client now
        except asyncio.CancelledError:
            assert self._task is not None
            if not self._cancelled_here or self._task.uncancel() > 0:
                raise  # cancelled from outside (the server), not by us
            self._abandon()  # disconnected, or cut while blocked: nobody to finish for
            return
        finally:
            self._task = None  # no cancelling from here on
            if self.connection is not None and not handed_over:
                self.connection.on_disconnect(None)
            if watcher is not None:
                watcher.cancel()
            aclose = getattr(self.content, "aclose", None)
            if aclose is not None:
                await aclose()  # a generator cut between events still runs its `finally`
            if self.on_end is not None and not handed_over:
                self.on_end()
        if handed_over:
            return
        if self.connection is not None and self.connection.backed_up:
            self._abandon()  # the send would wait on a client that stopped reading
            return
        with contextlib.suppress(OSError):
            await send({"type": "http.response.body", "body": b"", "more_body": False})

    def _abandon(self) -> None:
        # Under another server, uvicorn closes a connection whose response was left unfinished.
        if self.connection is not None:
            self.connection.abandon()

    async def _guarded(self, send: Send, message: Message) -> None:
        self._sending = True
        try:
            await send(message)
        finally:
            self._sending = False

    async def _watch_disconnect(self) -> None:
        while (await self.receive())["type"] != "http.disconnect":
            pass
        self._cancel()
