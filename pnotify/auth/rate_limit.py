"""A token bucket per API token for writes: TOKEN_RATE_LIMIT a second sustained, ten times that
at once. A runaway script cannot flood every phone, and a monitoring burst of hundreds passes."""

from __future__ import annotations

import math
import time

BURST_FACTOR = 10
MAX_BUCKETS = 10_000


class WriteRateLimit:
    def __init__(self, per_second: float) -> None:
        self.per_second = per_second  # 0: no limit
        self.capacity = per_second * BURST_FACTOR
        self._buckets: dict[str, tuple[float, float]] = {}  # key → (tokens, when)

    def take(self, key: str) -> int | None:
        """Spend one request for `key`; None when allowed, else the seconds to wait."""
        if not self.per_second:
            return None
        now = time.monotonic()
        tokens, when = self._buckets.get(key, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - when) * self.per_second)
        if tokens < 1:
            self._buckets[key] = (tokens, now)
            return max(1, math.ceil((1 - tokens) / self.per_second))
        self._buckets[key] = (tokens - 1, now)
        if len(self._buckets) > MAX_BUCKETS:
            self._forget_full(now)
        return None

    def _forget_full(self, now: float) -> None:
        """Buckets that have refilled carry no state worth keeping."""
        for key, (tokens, when) in list(self._buckets.items()):
            if tokens + (now - when) * self.per_second >= self.capacity:
                del self._buckets[key]
