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

import asyncio
import contextlib
import json
import logging
import uuid
from typing import Any

from pnotify import sse
from pnotify.auth.access import Principal
from pnotify.broker import CloseReason, Subscription
from pnotify.changes import Change
from pnotify.clock import to_iso
from pnotify.http import BadRequest, Message, Receive, Request, Response, Send
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


def change_payload(change: Change) -> dict[str, Any]:
    notification = change.notification
    if change.kind == "created":
        assert notification is not None
        return notification.to_json()
    if change.kind == "status_change":
        assert notification is not None
        read_at = to_iso(notification.read_at) if notification.read_at is not None else None
        return {"id": notification.id, "status": notification.status, "read_at": read_at}
    return {"id": change.notification_id}


def change_event(change: Change) -> bytes:
    data = json.dumps(change_payload(change), ensure_ascii=False, separators=(",", ":"))
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


class EventStream(Response):
    """`text/event-stream` written as raw ASGI body chunks."""

    def __init__(
        self, services: Services, request: Request, principal: Principal, after: int | None
    ) -> None:
        super().__init__(
            200,
            b"",
            [
                ("content-type", "text/event-stream; charset=utf-8"),
                ("cache-control", "no-store"),
                ("x-accel-buffering", "no"),
            ],
        )
        self.services = services
        self.receive: Receive = request.receive
        self.principal = principal
        self.after = after

    async def send(self, send: Send) -> None:
        services = self.services
        principal = self.principal
        current, replayable_after = store.current_cursor(services.reader)
        subscription = services.broker.subscribe(
            principal.user_id, principal.token_id, principal.session_id
        )
        sender = asyncio.current_task()
        assert sender is not None
        sending = False

        def interrupt_blocked_send(reason: CloseReason) -> None:
            # A client that stopped reading leaves us waiting in send() for buffer space
            # forever; closing the subscription (too slow, revoked, shutdown) must end that.
            if sending and reason is not CloseReason.DISCONNECTED:
                sender.cancel()

        subscription.on_close = interrupt_blocked_send

        async def guarded_send(message: Message) -> None:
            nonlocal sending
            sending = True
            try:
                await send(message)
            finally:
                sending = False

        watcher = asyncio.get_running_loop().create_task(self._watch_disconnect(subscription))
        log.info("stream opened", extra={"user_id": principal.user_id, "after": self.after})
        try:
            await guarded_send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(k.encode(), v.encode()) for k, v in self.headers],
                }
            )
            last = await self._replay(guarded_send, current, replayable_after)
            await self._live(guarded_send, subscription, last)
        except asyncio.CancelledError:
            if subscription.closed is None or subscription.closed is CloseReason.DISCONNECTED:
                raise
            # Our own interruption of a blocked send: the connection is abandoned (uvicorn
            # closes it when we return without finishing the response).
            sender.uncancel()
            return
        finally:
            services.broker.unsubscribe(subscription)
            watcher.cancel()
            reason = subscription.closed.value if subscription.closed else "ended"
            log.info("stream closed", extra={"user_id": principal.user_id, "reason": reason})
        if subscription.closed is not CloseReason.DISCONNECTED:
            with contextlib.suppress(OSError):
                await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _replay(self, send: Send, current: int, replayable_after: int) -> int:
        head = [sse.retry(RETRY_MILLISECONDS)]
        after = self.after
        if after is None:
            after = current  # a fresh client: live from now on
        elif needs_reset(after, current, replayable_after):
            data = json.dumps({"cursor": current, "reason": "cursor no longer replayable"})
            head.append(sse.event(data, name="reset", event_id=current))
            after = current
        await send({"type": "http.response.body", "body": b"".join(head), "more_body": True})
        last = after
        while True:
            page = store.changes_after(
                self.services.reader, self.principal.user_id, last, REPLAY_PAGE
            )
            if not page:
                break
            last = page[-1].cursor
            body = b"".join(change_event(change) for change in page)
            await send({"type": "http.response.body", "body": body, "more_body": True})
            if len(page) < REPLAY_PAGE:
                break
        ready = sse.event(json.dumps({"cursor": last}), name="ready", event_id=last)
        await send({"type": "http.response.body", "body": ready, "more_body": True})
        return last

    async def _live(self, send: Send, subscription: Subscription, last: int) -> None:
        while True:
            await subscription.wait()
            if subscription.closed is not None:
                return
            chunks: list[bytes] = []
            events = subscription.events
            while events:
                change = events.popleft()
                if change.cursor > last:  # at or below: already in the replay
                    chunks.append(change_event(change))
                    last = change.cursor
            if subscription.ping_due:
                subscription.ping_due = False
                if not chunks:
                    chunks.append(sse.comment())
            if chunks:
                await send(
                    {"type": "http.response.body", "body": b"".join(chunks), "more_body": True}
                )

    async def _watch_disconnect(self, subscription: Subscription) -> None:
        while True:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                subscription.close(CloseReason.DISCONNECTED)
                return


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
        return EventStream(self.services, request, principal, after)

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
