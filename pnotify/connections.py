"""The open connections of a server and their limits (enforced by protocol.py): which are
open, which wait for a request head or a body and until when, and which to evict when there are
too many.

The deadlines are kept here, in order, and one timer wakes at the earliest of them, rather than
one timer per request (made, then cancelled, for each head and each body): that cost ~6 µs a
request of the loop's time (uvloop, measured). Each kind of wait has one length, so a connection
that starts waiting later is due later: a queue in arrival order is a queue by deadline.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from dataclasses import dataclass
from typing import Protocol


class Connection(Protocol):
    def close_now(self) -> None:
        """Close at once (an idle connection evicted for a newcomer)."""

    def head_too_slow(self) -> None:
        """Its request head did not come within the head timeout."""

    def body_too_slow(self) -> None:
        """Its request body did not come within the body timeout."""


@dataclass(frozen=True)
class ConnectionLimits:
    head_timeout: float = 10.0
    head_max_bytes: int = 64 * 1024
    body_timeout: float = 30.0
    max_connections: int = 10_000


class ConnectionRegistry:
    """The open connections of one server, and which of them wait for a request head."""

    def __init__(self, limits: ConnectionLimits) -> None:
        self.limits = limits
        self.open: set[Connection] = set()
        # Deadlines (the loop's clock), earliest first: for a request head, for a body.
        self.waiting: OrderedDict[Connection, float] = OrderedDict()
        self.receiving: OrderedDict[Connection, float] = OrderedDict()
        self.evicted_total = 0
        self.refused_total = 0
        self._alarm: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None  # the server's, once known

    def admit(self, connection: Connection) -> bool:
        if len(self.open) >= self.limits.max_connections:
            if not self.waiting:
                self.refused_total += 1
                return False
            oldest, _ = self.waiting.popitem(last=False)
            self.evicted_total += 1
            oldest.close_now()
            self.open.discard(oldest)
        self.open.add(connection)
        return True

    def waiting_for_head(self, connection: Connection, waiting: bool) -> None:
        self._wait(self.waiting, connection, self.limits.head_timeout if waiting else None)

    def receiving_body(self, connection: Connection, receiving: bool) -> None:
        self._wait(self.receiving, connection, self.limits.body_timeout if receiving else None)

    def stop_waiting(self, connection: Connection) -> None:
        """Nothing more is awaited from it (it is closing)."""
        self.waiting.pop(connection, None)
        self.receiving.pop(connection, None)

    def forget(self, connection: Connection) -> None:
        self.open.discard(connection)
        self.stop_waiting(connection)

    def _wait(
        self, queue: OrderedDict[Connection, float], connection: Connection, seconds: float | None
    ) -> None:
        queue.pop(connection, None)
        if seconds is None:
            return
        loop = self._loop or self._running_loop()
        deadline = queue[connection] = loop.time() + seconds
        if self._alarm is None:
            self._alarm = loop.call_at(deadline, self._due)

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        # Kept: asking for it is a getpid(2) each time on Python 3.11, twice a request here.
        self._loop = asyncio.get_running_loop()
        return self._loop

    def _due(self) -> None:
        """The alarm: each connection whose deadline has passed is told; then the next alarm."""
        self._alarm = None
        loop = self._loop or self._running_loop()
        now = loop.time()
        for connection in _late(self.waiting, now):
            connection.head_too_slow()
        for connection in _late(self.receiving, now):
            connection.body_too_slow()
        earliest = [next(iter(queue.values())) for queue in (self.waiting, self.receiving) if queue]
        if earliest:
            self._alarm = loop.call_at(min(earliest), self._due)


def _late(queue: OrderedDict[Connection, float], now: float) -> list[Connection]:
    """Take from the queue the connections whose deadline has passed."""
    late = []
    while queue:
        connection, deadline = next(iter(queue.items()))
        if deadline > now:
            break
        del queue[connection]
        late.append(connection)
    return late
