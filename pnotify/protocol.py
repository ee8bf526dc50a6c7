"""The HTTP connection: uvicorn's httptools protocol, with the limits that must hold before the
app sees a request — and so before anyone is authenticated.

uvicorn's protocol bounds none of these (measured: a client sending a header line a second was
never cut off; four unfinished 64 MiB header lines grew the process by ~280 MB; 20,400 idle
sockets used up the descriptors and /healthz stopped answering). Here:

- the request head (request line and headers) must arrive within HEAD_TIMEOUT seconds, counted
  from the connection (or the end of the previous response), else 408 and close; a connection
  on which nothing came in that time is closed without an answer (uvicorn's keep-alive timer
  did that after 5 s; this one deadline replaces it);
- the head may be at most HEAD_MAX_BYTES, else 431 and close;
- a request body must arrive within BODY_TIMEOUT seconds of its head, else 408 and close;
- at most MAX_CONNECTIONS are open. A new connection beyond that first evicts the oldest one
  still waiting for a request head (idle sockets are the cheap attack, and cost their owner
  nothing to reopen); only when every connection is busy is the newcomer refused with a 503;
- at shutdown, a request whose body is still arriving is cut at once instead of holding the
  server for the whole graceful timeout.

The registry (connections.py) keeps the connections and their deadlines, with one alarm for all.

It writes a whole response, head and body, in one write (uvicorn's `send()` makes two system
calls of it, and wakes the client twice). It also offers itself to a streaming response
(`sse.StreamConnection`, in the scope): it says when the client is gone, so that an idle event
stream needs no task waiting on `receive()` to learn it; it writes an event into the body at
once, so that a notification reaches a thousand streams from one loop over them rather than by
waking a thousand tasks; and it takes a response over from ASGI, so that an idle stream holds
no request (task, frames, scope, buffers): only this connection and its subscription.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from typing import Any, ClassVar

from uvicorn.protocols.http.httptools_impl import (
    STATUS_LINE,
    HttpToolsProtocol,
    RequestResponseCycle,
)

from pnotify.connections import ConnectionLimits, ConnectionRegistry
from pnotify.http import CONNECTION, Scope

# The scope key of a request's own cycle (a weak reference: the cycle holds the scope, and a
# cycle of references per request leaves every request to the garbage collector: measured, POST
# p99 45-55 against 18-48 ms). With pipelining, `self.cycle` is the newest request's.
_CYCLE = "pnotify.cycle"

LINGER_SECONDS = 2.0


class GuardedHttpProtocol(HttpToolsProtocol):
    registry: ClassVar[ConnectionRegistry]
    # Slots, not the instance dict: uvicorn's protocol sets 28 attributes, and ours in the dict
    # would pass the 30 keys it can share, costing every open connection ~1.2 KiB.
    __slots__ = (
        "_body_pending",
        "_closing",
        "_handed_over",
        "_head_bytes",
        "_in_head",
        "_linger",
        "_lost",
        "_on_disconnect",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._linger: asyncio.TimerHandle | None = None
        self._in_head = True
        self._head_bytes = 0
        self._body_pending = False
        self._closing = False
        self._handed_over = False
        self._lost = False
        self._on_disconnect: Callable[[], None] | None = None

    # --- the connection ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if not self.registry.admit(self):
            self._answer_and_close(
                503, "too many open connections; try again shortly", "too_many_connections"
            )
            return
        self._await_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        self._stop_lingering()
        self.registry.forget(self)
        super().connection_lost(exc)
        callback, self._on_disconnect = self._on_disconnect, None
        if callback is not None:
            callback()

    def on_disconnect(self, callback: Callable[[], None] | None) -> None:
        """Run `callback` once the client is gone; None forgets it (the response has ended)."""
        if callback is not None and self._lost:
            callback()
            return
        self._on_disconnect = callback

    def write_body(self, data: bytes) -> int:
        """`data` as the next chunk of the response body, written now (as uvicorn's `send()`
        writes one: a stream has no Content-Length, so its body is always chunked)."""
        if self._lost or self.transport.is_closing():
            return 0
        self.transport.write(chunked(data))
        return self.transport.get_write_buffer_size()

    def respond(self, scope: Scope, status: int, head_lines: bytes, body: bytes) -> bool:
        """The whole response in one write, doing for the request's cycle what uvicorn's
        `send()` does for a head and a body (`head_lines`, checked, include the length)."""
        cycle = _cycle_of(scope)
        if cycle is None or cycle.response_started:
            return False
        if not cycle.disconnected:  # else, as send() does: nobody to write to
            self._write(cycle, _encode(cycle, scope, status, head_lines, body))
        return True

    def respond_encoded(self, scope: Scope, wire: bytes) -> bool:
        """Write what `encode` made for this request; False if it no longer fits (keep-alive
        ended since: the server is stopping), and then `respond` makes it again."""
        cycle = _cycle_of(scope)
        if cycle is None or cycle.response_started or not cycle.keep_alive:
            return False
        if not cycle.disconnected:
            self._write(cycle, wire)
        return True

    def encode(self, scope: Scope, status: int, head_lines: bytes, body: bytes) -> bytes | None:
        """The bytes `respond` would write, made ahead (while the loop waits for a COMMIT, say);
        None when the request can no longer be answered so."""
        cycle = _cycle_of(scope)
        if cycle is None or cycle.response_started:
            return None
        return _encode(cycle, scope, status, head_lines, body)

    def _write(self, cycle: RequestResponseCycle, wire: bytes) -> None:
        cycle.response_started = True
        cycle.waiting_for_100_continue = False
        self.transport.write(wire)
        cycle.response_complete = True
        cycle.message_event.set()
        if not cycle.keep_alive:
            self.transport.close()
        cycle.on_response()

    def start_body(self, scope: Scope, headers: list[tuple[bytes, bytes]], first: bytes) -> None:
        """A 200's head and the first chunk of its chunked body in one write (uvicorn's `send()`
        makes them two: two system calls, and two wake-ups of the client). Our own headers only,
        so they need no checking; uvicorn's defaults (`date`) as its `send()` adds them.

        A request the client pipelined behind the stream is dropped: it could only be answered
        once the stream ends (uvicorn would otherwise have taken it for the current request)."""
        cycle: RequestResponseCycle = _cycle_of(scope) or self.cycle
        if cycle is not self.cycle:
            self.pipeline.clear()
            self.cycle = cycle
            self.flow.resume_reading()  # paused for the pipelined request; a disconnect must show
        cycle.response_started = True
        cycle.chunked_encoding = True
        parts = [STATUS_LINE[200]]
        for name, value in (*self.server_state.default_headers, *headers):
            parts += (name, b": ", value, b"\r\n")
        if not cycle.keep_alive:
            parts.append(b"connection: close\r\n")
        parts.append(b"transfer-encoding: chunked\r\n\r\n")
        if first:  # an empty chunk would end the body
            parts.append(chunked(first))
        self.transport.write(b"".join(parts))

    def take_over(self, on_client_gone: Callable[[], None]) -> None:
        """The started response goes on outside ASGI: the app may return, and uvicorn's request
        (its task, cycle, scope and parser) is let go. The caller writes the rest of the body
        with `write_body` and ends it with `finish`; `on_client_gone` runs once the client
        leaves. What the client sends from now on is ignored."""
        if self.cycle is not None:
            self.cycle.response_complete = True  # nothing for uvicorn to finish or report
        self._handed_over = True
        self.cycle = None  # type: ignore[assignment]
        self.scope = None  # type: ignore[assignment]
        self.headers = None  # type: ignore[assignment]
        self.parser = None  # type: ignore[assignment]
        self.on_disconnect(on_client_gone)

    def finish(self) -> None:
        """End a taken-over response: its last chunk, then close once it has gone out. A client
        that stopped reading gets no last chunk (it would only wait behind the rest)."""
        if self._lost or self.transport.is_closing():
            return
        if not self.backed_up:
            self.transport.write(b"0\r\n\r\n")
        self.transport.close()

    @property
    def backed_up(self) -> bool:
        return self.flow.write_paused

    def abandon(self) -> None:
        """A stream given up on (its client stopped reading, or left): close the connection
        once what is buffered has gone out. Marked as gone first, so that uvicorn does not
        report the unfinished response as an application error."""
        if self.cycle is not None:
            self.cycle.disconnected = True
        self.transport.close()

    def data_received(self, data: bytes) -> None:
        if self._closing or self._handed_over:
            return
        was_in_head = self._in_head
        super().data_received(data)
        # Only what arrives while the head is still incomplete counts against it: the same
        # read may carry the end of the head and the start of a large (and legal) body.
        if was_in_head and self._in_head and not self._closing:
            self._head_bytes += len(data)
            if self._head_bytes > self.registry.limits.head_max_bytes:
                self._answer_and_close(431, "request head too large", "request_head_too_large")

    def shutdown(self) -> None:
        if self._body_pending and self.cycle is not None and not self.cycle.response_complete:
            self.close_now()  # the app's receive() sees a disconnect and gives up at once
            return
        super().shutdown()

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to a request the parser refuses, in our shape (it sends text)."""
        self._answer_and_close(400, "invalid HTTP request", "bad_request")

    def close_now(self) -> None:
        self._closing = True
        self.registry.stop_waiting(self)
        self._stop_lingering()
        self.transport.close()

    # --- the parser's callbacks ----------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.scope[CONNECTION] = self  # type: ignore[literal-required]

    def on_headers_complete(self) -> None:
        self._in_head = False
        self.registry.waiting_for_head(self, False)
        super().on_headers_complete()
        if self.cycle is not None and self.cycle.scope is self.scope:  # not an upgrade
            self.scope[_CYCLE] = weakref.ref(self.cycle)  # type: ignore[literal-required]
        if self._has_body():
            self._body_pending = True
            self.registry.receiving_body(self, True)

    def on_message_complete(self) -> None:
        if self._body_pending:
            self._body_pending = False
            self.registry.receiving_body(self, False)
        super().on_message_complete()

    def on_response_complete(self) -> None:
        """uvicorn's, less its keep-alive timer: one made and cancelled per request (1.8 µs of
        the loop's). The registry's head deadline bounds the wait for the next request instead,
        and a connection on which nothing more came by then is closed as that timer closed it
        (`head_too_slow`)."""
        self._on_disconnect = None
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        self.flow.resume_reading()
        if self.pipeline:
            cycle, app = self.pipeline.pop()
            self._start_asgi_task(cycle, app)
        if not self._closing:
            self._await_head()  # the next request on this kept-alive connection

    # --- helpers -------------------------------------------------------------------------

    def _await_head(self) -> None:
        self._in_head = True
        self._head_bytes = 0
        self.registry.waiting_for_head(self, True)  # with its deadline (connections.py)

    def _has_body(self) -> bool:
        for name, value in self.headers:
            if name == b"content-length":
                return value.strip() not in (b"0", b"")
            if name == b"transfer-encoding":
                return True
        return False

    def head_too_slow(self) -> None:
        """The registry's call, at the head's deadline (connections.py): a request begun and not
        finished is answered 408; an idle connection, with nothing to answer, is closed."""
        if not self._in_head:
            return
        if self._head_bytes == 0:
            self.close_now()
        else:
            self._answer_and_close(408, "request head not received in time", "request_timeout")

    def body_too_slow(self) -> None:
        """The registry's call, at the body's deadline."""
        if self._body_pending and self.cycle is not None and not self.cycle.response_started:
            self._answer_and_close(408, "request body not received in time", "request_timeout")
        else:
            self.close_now()

    def _answer_and_close(self, status: int, text: str, code: str) -> None:
        """A minimal answer written straight to the socket: no app, no request, no waiting.

        Then a lingering close: end our side (FIN) and discard what the client still sends for
        a moment. Closing at once with its data unread makes the kernel send a reset, and the
        client may lose the answer before it reads it.
        """
        body = ('{"detail":"' + text + '","code":"' + code + '"}').encode()
        self.transport.write(
            STATUS_LINE[status]
            + b"content-type: application/json\r\ncontent-length: "
            + str(len(body)).encode()
            + b"\r\nconnection: close\r\n\r\n"
            + body
        )
        self._closing = True  # from now on data_received discards
        self.registry.stop_waiting(self)
        self._stop_lingering()
        if self.transport.can_write_eof():
            self.transport.write_eof()
            self._linger = self.loop.call_later(LINGER_SECONDS, self.transport.close)
        else:
            self.transport.close()

    def _stop_lingering(self) -> None:
        if self._linger is not None:
            self._linger.cancel()
            self._linger = None


def _cycle_of(scope: Scope) -> RequestResponseCycle | None:
    own = scope.get(_CYCLE)
    cycle: RequestResponseCycle | None = own() if own is not None else None
    return cycle


def _encode(
    cycle: RequestResponseCycle, scope: Scope, status: int, head_lines: bytes, body: bytes
) -> bytes:
    """A whole response: status line, uvicorn's default headers (`date`), ours (checked as
    uvicorn checks them: responses.header_line), the body."""
    parts = [STATUS_LINE[status]]
    for name, value in cycle.default_headers:
        parts += (name, b": ", value, b"\r\n")
    parts.append(head_lines)
    if not cycle.keep_alive:
        parts.append(b"connection: close\r\n")
    parts.append(b"\r\n")
    if scope["method"] != "HEAD":
        parts.append(body)
    return b"".join(parts)


_last_chunked: tuple[bytes, bytes] = (b"", b"0\r\n\r\n")  # what framing b"" gives


def chunked(data: bytes) -> bytes:
    """`data` framed as one chunk of a chunked body, as one bytes object: uvloop writes one
    with a plain write(2), and several (writelines) through libuv's writev, with a write
    request allocated around it; measured, a 1,000-stream fan-out held the loop 13.4 ms
    against 10.5 (median of 15 windows of 50 events each, interleaved). The last framing is
    kept: an event goes to every stream of its user in one loop, so it is framed once."""
    global _last_chunked
    if _last_chunked[0] is data:  # the same object (the cache holds it, so its id is not reused)
        return _last_chunked[1]
    framed = b"%x\r\n%b\r\n" % (len(data), data)
    _last_chunked = (data, framed)
    return framed


def protocol_class(limits: ConnectionLimits) -> type[GuardedHttpProtocol]:
    """A protocol class bound to one server's registry (uvicorn builds one per connection)."""
    return type(
        "ServerHttpProtocol", (GuardedHttpProtocol,), {"registry": ConnectionRegistry(limits)}
    )
