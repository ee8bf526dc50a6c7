"""Keeping devices in sync: the SSE stream and the polling changes feed, both keyed by cursor.

Every change to a user's notifications takes the next value of a global change cursor. The
stream sends it as the SSE `id:`, so a reconnect with `Last-Event-ID` (or `?after=`) replays
what the client missed; `/changes?after=` gives polling clients the same.

Replay is a compacted log, deliberately: each notification changed after the cursor is sent
once, in its current state, at the cursor of its latest change (deletes as tombstones). A client
that applies the replay ends in exactly the server's state, without unbounded history storage.

Ordering against the live feed (after ntfy's subscribe-before-replay): subscribe first, then read
the backlog, then drop live events whose cursor is not above the last one sent. Commits happen
in cursor order, so anything at or below that cursor is already reflected in what was sent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from pnotify import jsontext, sse
from pnotify.broker import CloseReason, StreamLimitReached, Subscription
from pnotify.changes import Change
from pnotify.http import CONNECTION, Request, TooManyRequests
from pnotify.responses import Response
from pnotify.routing import Operation, Reply, Route
from pnotify.schema import Cursor, Field, Fields, Integer
from pnotify.services import Services
from pnotify.storage import replay

REPLAY_PAGE = 500
CHANGES_LIMIT_DEFAULT = 500
CHANGES_LIMIT_MAX = 1000
RETRY_MILLISECONDS = 3000
_EVENT_NAMES = {
    "created": "notification",
    "updated": "updated",
    "status_change": "status_change",
    "deleted": "deleted",
}


def change_event(change: Change) -> bytes:
    """The change as an SSE event. Encoded on first use and kept on the change: the broker
    hands the same Change to every stream of its user, so a thousand streams share one
    encoding instead of serialising the notification a thousand times."""
    if change.encoded is None:
        data = jsontext.compact(change.payload())
        change.encoded = sse.event(data, name=_EVENT_NAMES[change.kind], event_id=change.cursor)
    return change.encoded


def resolve_cursor(given: int | str | None, services: Services, user_id: str) -> int | None:
    """A cursor as given (schema.Cursor checked it); a notification id becomes the cursor of
    its creation, and an unknown one -1, which always asks for a reset. None: not given."""
    if given is None or isinstance(given, int):
        return given
    found = replay.created_cursor_of(services.reader, user_id, given)
    return -1 if found is None else found


def needs_reset(after: int, current: int, replayable_after: int) -> bool:
    # Older than what tombstones still cover, or from the future (another database, a restore).
    return after < replayable_after or after > current or after < 0


KEEPALIVE = sse.comment()


class DeviceFeed:
    """One device's stream: what it missed since its cursor, then live changes as they commit.

    Under our protocol the live part runs outside ASGI: once the replay is sent, the connection
    is taken over (`sse.StreamConnection.take_over`), the request ends, and the publisher writes
    each change straight into the connection (`write_body`) from one loop over the user's
    streams — no task per stream, none woken per event. A client that stops reading is cut off
    once SSE_QUEUE_LIMIT events have been written since it last had everything. Under another
    server (no StreamConnection) the stream's own task drains the subscription's queue instead.
    """

    def __init__(
        self,
        services: Services,
        subscription: Subscription,
        after: int | None,
        stream: sse.EventStreamResponse,
    ) -> None:
        self.services = services
        self.subscription = subscription
        self.user_id = subscription.user_id
        self.after = after
        self.connection = stream.connection
        # While the response runs the stream, a close interrupts it; once taken over, it ends here.
        self._interrupt: Callable[[], None] | None = stream.interrupt
        self._last = 0  # the cursor of the last change sent
        self._waiting = 0  # events written since the client last had everything
        subscription.on_close = self._closed
        stream.content = self.events()
        stream.on_end = self.close
        stream.hand_over = self.go_live

    async def events(self) -> AsyncIterator[bytes]:
        self._log("stream opened", {"user_id": self.user_id, "after": self.after})
        async for chunk in self._replay():
            self._last = chunk.cursor
            yield chunk.body
        if self.connection is not None:
            return  # the replay is sent: go_live takes the stream on
        while (changes := await self.subscription.drain()) is not None:
            yield self._fresh(changes) or KEEPALIVE

    def go_live(self) -> bool:
        """After the replay, under our protocol: from now on changes are written as they come
        and the connection is ours (True); False if the stream has already been closed."""
        if self.connection is None or self.subscription.closed is not None:
            return False
        self._interrupt = None
        self.subscription.deliver_at_once(self._write_now)
        self.connection.take_over(self._client_gone)
        return True

    def _fresh(self, changes: list[Change]) -> bytes | None:
        """The changes not sent yet (the replay may have had them), encoded; None if none."""
        if len(changes) == 1 and changes[0].cursor > self._last:  # the usual case: one change
            self._last = changes[0].cursor
            return change_event(changes[0])
        fresh = [change for change in changes if change.cursor > self._last]
        if not fresh:
            return None
        self._last = fresh[-1].cursor
        return b"".join(change_event(change) for change in fresh)

    def _write_now(self, changes: list[Change]) -> None:
        assert self.connection is not None
        if not self.connection.write_body(self._fresh(changes) or KEEPALIVE):
            self._waiting = 0
            return
        self._waiting += 1
        if self._waiting >= self.subscription.queue_limit:
            self.subscription.close(CloseReason.TOO_SLOW)

    def _client_gone(self) -> None:
        self.subscription.close(CloseReason.DISCONNECTED)

    def _closed(self, reason: CloseReason) -> None:
        """The subscription is closed: too slow, revoked, at shutdown, or its client left."""
        if self._interrupt is not None:
            self._interrupt()  # the response ends the stream, and calls close()
            return
        assert self.connection is not None
        self.connection.finish()
        self.close()

    def close(self) -> None:
        """When the stream ends, however it ends."""
        self.services.broker.unsubscribe(self.subscription)
        closed = self.subscription.closed or CloseReason.DISCONNECTED
        self._log("stream closed", {"user_id": self.user_id, "reason": closed.value})

    def _log(self, event: str, entry: dict[str, object]) -> None:
        # A line per stream opened and closed: batched, as request lines are (logs.FrequentLines).
        if self.services.lines is not None:
            self.services.lines.write(__name__, event, entry)

    async def _replay(self) -> AsyncIterator[_Chunk]:
        reader = self.services.reader
        current, replayable_after = self.services.cursors.for_client(self.after)
        head = [sse.retry(RETRY_MILLISECONDS)]
        after = self.after
        if after is None:
            after = current  # a fresh client: live from now on
        elif needs_reset(after, current, replayable_after):
            data = jsontext.compact({"cursor": current, "reason": "cursor no longer replayable"})
            head.append(sse.event(data, name="reset", event_id=current))
            after = current
        # The head goes out with what follows it: a fresh device gets one chunk, one write.
        pending = b"".join(head)
        last = after
        # Nothing to replay for a device that is up to date (every fresh one): no queries.
        while last < current:
            page = replay.changes_after(reader, self.user_id, last, REPLAY_PAGE)
            if page:
                last = page[-1].cursor
                yield _Chunk(last, pending + b"".join(change_event(change) for change in page))
                pending = b""
            if len(page) < REPLAY_PAGE:
                break
        ready = sse.event(jsontext.compact({"cursor": last}), name="ready", event_id=last)
        yield _Chunk(last, pending + ready)


class _Chunk:
    __slots__ = ("body", "cursor")

    def __init__(self, cursor: int, body: bytes) -> None:
        self.cursor = cursor
        self.body = body


class SyncHandlers:
    def __init__(self, services: Services) -> None:
        self.services = services

    async def stream(self, request: Request) -> Response:
        principal = request.user
        given = request.params["after"]
        header = request.header("last-event-id")
        if header is not None and header.strip():
            given = Cursor().check("Last-Event-ID", header)
        after = resolve_cursor(given, self.services, principal.user_id)
        if request.method == "HEAD":  # the stream's head, with no stream behind it
            return Response(200, b"", list(sse.STREAM_HEADERS))
        connection = request.scope.get(CONNECTION)
        stream = sse.EventStreamResponse(request.receive, connection=connection)
        try:
            # Subscribe before the backlog is read (in the feed): no gaps.
            subscription = self.services.broker.subscribe(
                principal.user_id, principal.token_id, principal.session_id
            )
        except StreamLimitReached as limit:
            raise TooManyRequests(
                f"this token or session already has {limit.count} open streams (the most "
                "SSE_STREAMS_PER_TOKEN allows); close one first",
                code="too_many_streams",
            ) from None
        DeviceFeed(self.services, subscription, after, stream)  # it wires itself to both
        return stream

    async def changes(self, request: Request) -> Response:
        user_id = request.user.user_id
        after = resolve_cursor(request.params["after"], self.services, user_id) or 0
        limit = request.params["limit"]
        current, replayable_after = self.services.cursors.for_client(after)
        if needs_reset(after, current, replayable_after):
            return Response.json(
                {
                    "notifications": [],
                    "deleted": [],
                    "cursor": current,
                    "has_more": False,
                    "reset": True,
                }
            )
        page = replay.changes_after(self.services.reader, user_id, after, limit)
        return Response.json(
            {
                "notifications": [
                    c.notification.to_json() for c in page if c.notification is not None
                ],
                "deleted": [c.notification_id for c in page if c.kind == "deleted"],
                "cursor": page[-1].cursor if page else max(after, 0),
                "has_more": len(page) == limit,
                "reset": False,
            }
        )


AFTER = Field("after", Cursor(), doc="a change cursor (or, for older clients, a notification id)")


def routes(services: Services) -> list[Route]:
    handlers = SyncHandlers(services)
    return [
        Route(
            "GET",
            "/api/notifications/stream",
            handlers.stream,
            name="stream",
            operation=Operation(
                "Live changes as Server-Sent Events; resume with `Last-Event-ID` or `after`",
                {200: Reply("an endless event stream", "EventStream", "text/event-stream")},
                query=Fields((AFTER,)),
                tag="sync",
            ),
        ),
        Route(
            "GET",
            "/api/notifications/changes",
            handlers.changes,
            name="changes",
            operation=Operation(
                "Changes after a cursor, for polling devices",
                {200: Reply("created or changed notifications, deleted ids", "Changes")},
                query=Fields(
                    (
                        AFTER,
                        Field(
                            "limit",
                            Integer(1, CHANGES_LIMIT_MAX),
                            default=CHANGES_LIMIT_DEFAULT,
                        ),
                    )
                ),
                tag="sync",
            ),
        ),
    ]
