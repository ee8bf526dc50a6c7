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

import logging
import uuid
from collections.abc import AsyncIterator

from pnotify import jsontext, sse
from pnotify.auth.access import Principal
from pnotify.broker import CloseReason
from pnotify.changes import Change
from pnotify.http import BadRequest, Request, Response
from pnotify.routing import Route
from pnotify.services import Services
from pnotify.storage import notifications as store
from pnotify.validation import int_param

log = logging.getLogger(__name__)

REPLAY_PAGE = 500
CHANGES_LIMIT_DEFAULT = 500
CHANGES_LIMIT_MAX = 1000
RETRY_MILLISECONDS = 3000
_EVENT_NAMES = {"created": "notification", "status_change": "status_change", "deleted": "deleted"}


def change_event(change: Change) -> bytes:
    data = jsontext.compact(change.payload())
    return sse.event(data, name=_EVENT_NAMES[change.kind], event_id=change.cursor)


def parse_cursor(raw: str | None, services: Services, user_id: str, name: str) -> int | None:
    """A cursor (integer) or, for older clients, a notification id; None when not given.

    An unknown notification id is reported as -1, which always asks for a reset.
    """
    if raw is None or raw.strip() == "":
        return None
    raw = raw.strip()
    if raw.isdigit():
        return int(raw)
    try:
        notification_id = str(uuid.UUID(raw))
    except ValueError:
        raise BadRequest(
            f"{name}: expected a change cursor (a whole number), got {raw[:40]!r}",
            code="invalid_cursor",
        ) from None
    found = store.created_cursor_of(services.reader, user_id, notification_id)
    return -1 if found is None else found


def needs_reset(after: int, current: int, replayable_after: int) -> bool:
    # Older than what tombstones still cover, or from the future (another database, a restore).
    return after < replayable_after or after > current or after < 0


class DeviceFeed:
    """One device's stream: what it missed since its cursor, then live changes as they commit."""

    def __init__(self, services: Services, principal: Principal, after: int | None) -> None:
        self.services = services
        self.principal = principal
        self.after = after

    async def events(self, on_close: sse.Interrupt) -> AsyncIterator[bytes]:
        principal = self.principal
        # Subscribe before reading the backlog: no gaps (see the module docstring).
        subscription = self.services.broker.subscribe(
            principal.user_id, principal.token_id, principal.session_id, on_close
        )
        log.info("stream opened", extra={"user_id": principal.user_id, "after": self.after})
        try:
            last = 0
            async for chunk in self._replay():
                last = chunk.cursor
                yield chunk.body
            while (changes := await subscription.drain()) is not None:
                fresh = [change for change in changes if change.cursor > last]
                if fresh:
                    last = fresh[-1].cursor
                    yield b"".join(change_event(change) for change in fresh)
                else:
                    yield sse.comment()  # a keepalive (or changes already in the replay)
        finally:
            self.services.broker.unsubscribe(subscription)
            closed = subscription.closed or CloseReason.DISCONNECTED
            log.info("stream closed", extra={"user_id": principal.user_id, "reason": closed.value})

    async def _replay(self) -> AsyncIterator[_Chunk]:
        reader = self.services.reader
        current, replayable_after = store.current_cursor(reader)
        head = [sse.retry(RETRY_MILLISECONDS)]
        after = self.after
        if after is None:
            after = current  # a fresh client: live from now on
        elif needs_reset(after, current, replayable_after):
            data = jsontext.compact({"cursor": current, "reason": "cursor no longer replayable"})
            head.append(sse.event(data, name="reset", event_id=current))
            after = current
        yield _Chunk(after, b"".join(head))
        last = after
        while True:
            page = store.changes_after(reader, self.principal.user_id, last, REPLAY_PAGE)
            if page:
                last = page[-1].cursor
                yield _Chunk(last, b"".join(change_event(change) for change in page))
            if len(page) < REPLAY_PAGE:
                break
        ready = sse.event(jsontext.compact({"cursor": last}), name="ready", event_id=last)
        yield _Chunk(last, ready)


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
        raw = request.header("last-event-id")
        name = "Last-Event-ID"
        if raw is None or raw.strip() == "":
            raw, name = request.query.get("after"), "after"
        after = parse_cursor(raw, self.services, principal.user_id, name)
        feed = DeviceFeed(self.services, principal, after)
        stream = sse.EventStreamResponse(request.receive)
        stream.content = feed.events(on_close=stream.interrupt)
        return stream

    async def changes(self, request: Request) -> Response:
        user_id = request.user.user_id
        after = parse_cursor(request.query.get("after"), self.services, user_id, "after") or 0
        limit = int_param(request.query, "limit", CHANGES_LIMIT_DEFAULT, 1, CHANGES_LIMIT_MAX)
        current, replayable_after = store.current_cursor(self.services.reader)
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
        page = store.changes_after(self.services.reader, user_id, after, limit)
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


def routes(services: Services) -> list[Route]:
    handlers = SyncHandlers(services)
    return [
        Route("GET", "/api/notifications/stream", handlers.stream, name="stream"),
        Route("GET", "/api/notifications/changes", handlers.changes, name="changes"),
    ]
