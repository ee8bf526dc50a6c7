"""The open connections of a server and their limits (enforced by protocol.py): which are
open, which wait for a request head, and which to evict when there are too many."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Protocol


class Connection(Protocol):
    def close_now(self) -> None:
        """Close at once (an idle connection evicted for a newcomer)."""


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
        self.waiting: OrderedDict[Connection, None] = OrderedDict()  # oldest first
        self.evicted_total = 0
        self.refused_total = 0

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
        if waiting:
            self.waiting[connection] = None
        else:
            self.waiting.pop(connection, None)

    def forget(self, connection: Connection) -> None:
        self.open.discard(connection)
        self.waiting.pop(connection, None)
