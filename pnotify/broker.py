"""In-process fan-out of committed changes to the open streams of each user.

A publisher never waits for a subscriber: each subscription has a bounded queue, and one that
falls too far behind is closed (its client reconnects and replays from its cursor), so memory
never grows without bound. One shared ticker wakes every subscription for its keepalive instead
of a timer per stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
from collections import Counter
from collections.abc import Callable, Iterable

from pnotify.changes import Change

QUEUE_LIMIT = 1_000


class CloseReason(enum.Enum):
    DISCONNECTED = "disconnected"
    TOO_SLOW = "too slow"
    REVOKED = "credentials revoked"
    SHUTDOWN = "server shutting down"


class StreamLimitReached(Exception):
    """A token or session already has as many streams as it may."""

    def __init__(self, count: int) -> None:
        super().__init__(count)
        self.count = count


class Subscription:
    __slots__ = (
        "_deliver",
        "_events",
        "_ping_due",
        "_waiter",
        "closed",
        "on_close",
        "queue_limit",
        "session_id",
        "token_id",
        "user_id",
    )

    def __init__(
        self,
        user_id: str,
        token_id: str | None,
        session_id: str | None,
        queue_limit: int,
        on_close: Callable[[CloseReason], None] | None = None,
    ) -> None:
        self.user_id = user_id
        self.queue_limit = queue_limit
        self.on_close = on_close  # called once, with the reason, when closed
        self.token_id = token_id
        self.session_id = session_id
        # A list, not a deque: an empty deque holds a 64-slot block (~700 B) for every idle stream.
        self._events: list[Change] = []
        self.closed: CloseReason | None = None
        self._ping_due = False
        self._waiter: asyncio.Future[None] | None = None
        self._deliver: Callable[[list[Change]], None] | None = None

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def push(self, change: Change) -> None:
        if self.closed is not None:
            return
        if self._deliver is not None:
            self._deliver([change])
            return
        if len(self._events) >= self.queue_limit:
            self.close(CloseReason.TOO_SLOW)
            return
        self._events.append(change)
        self._wake()

    def ping(self) -> None:
        if self._deliver is not None:  # set only while open
            self._deliver([])
            return
        self._ping_due = True
        self._wake()

    def deliver_at_once(self, deliver: Callable[[list[Change]], None]) -> None:
        """From now on hand each change to `deliver` as it is pushed (a keepalive as []),
        instead of queueing it for `drain()`; what is queued goes first. `drain()` then only
        waits for the close. `deliver` may close the subscription (a client too slow)."""
        if self.closed is not None:
            return
        queued, self._events = self._events, []
        self._ping_due = False
        self._deliver = deliver
        if queued:
            deliver(queued)

    def close(self, reason: CloseReason) -> None:
        if self.closed is None:
            self.closed = reason
            self._events.clear()  # released at once, not when the stream task gets to run
            self._deliver = None
            if self.on_close is not None:
                self.on_close(reason)
        self._wake()

    async def drain(self) -> list[Change] | None:
        """Wait until there is something to send, then take it all: the queued changes, oldest
        first (an empty list when only a keepalive is due). None once the subscription is closed.
        """
        if not (self._events or self._ping_due or self.closed is not None):
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        if self.closed is not None:
            return None
        taken, self._events = self._events, []
        self._ping_due = False
        return taken


class Broker:
    def __init__(
        self,
        keepalive_seconds: float,
        queue_limit: int = QUEUE_LIMIT,
        streams_per_credential: int = 0,
    ) -> None:
        self.keepalive_seconds = keepalive_seconds
        self.queue_limit = queue_limit
        self.streams_per_credential = streams_per_credential  # 0: no cap
        self._by_user: dict[str, set[Subscription]] = {}
        self._per_credential: Counter[str] = Counter()
        self._ticker: asyncio.Task[None] | None = None

    @property
    def subscriber_count(self) -> int:
        return sum(len(subs) for subs in self._by_user.values())

    def start(self) -> None:
        self._ticker = asyncio.get_running_loop().create_task(
            self._tick(), name="pnotify-keepalive"
        )

    async def stop(self) -> None:
        self.close_all(CloseReason.SHUTDOWN)
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None

    def subscribe(
        self,
        user_id: str,
        token_id: str | None,
        session_id: str | None,
        on_close: Callable[[CloseReason], None] | None = None,
    ) -> Subscription:
        """`on_close` is called once, at once, when the subscription is closed for any reason.

        Raises StreamLimitReached when the token or session has `streams_per_credential` open.
        """
        credential = token_id or session_id
        if credential is not None and self.streams_per_credential:
            if self._per_credential[credential] >= self.streams_per_credential:
                raise StreamLimitReached(self._per_credential[credential])
            self._per_credential[credential] += 1
        subscription = Subscription(user_id, token_id, session_id, self.queue_limit, on_close)
        self._by_user.setdefault(user_id, set()).add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        subs = self._by_user.get(subscription.user_id)
        if subs is None or subscription not in subs:
            return  # already gone: unsubscribing twice changes nothing
        subs.discard(subscription)
        if not subs:
            del self._by_user[subscription.user_id]
        credential = subscription.token_id or subscription.session_id
        if credential is not None and self.streams_per_credential:
            self._per_credential[credential] -= 1
            if self._per_credential[credential] <= 0:
                del self._per_credential[credential]

    def publish(self, changes: Iterable[Change]) -> None:
        """Called on the loop after COMMIT, with the batch's changes in cursor order."""
        for change in changes:
            for subscription in tuple(self._by_user.get(change.user_id, ())):
                subscription.push(change)

    def close_where(
        self, reason: CloseReason, *, token_id: str | None = None, session_id: str | None = None
    ) -> int:
        closed = 0
        for subscription in self._all():
            if (token_id is not None and subscription.token_id == token_id) or (
                session_id is not None and subscription.session_id == session_id
            ):
                subscription.close(reason)
                closed += 1
        return closed

    def close_all(self, reason: CloseReason) -> None:
        for subscription in self._all():
            subscription.close(reason)

    def _all(self) -> list[Subscription]:
        """Every subscription, as a list: closing one may unsubscribe it at once."""
        return [subscription for subs in self._by_user.values() for subscription in subs]

    def token_ids(self) -> set[str]:
        return {s.token_id for subs in self._by_user.values() for s in subs if s.token_id}

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self.keepalive_seconds)
            for subscription in self._all():
                subscription.ping()
