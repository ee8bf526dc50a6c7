"""Time-ordered UUIDv7 ids (RFC 9562): new rows land at the right edge of the index."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

RANDOM_BYTES = 10  # of which 74 bits are used: rand_a (12) and rand_b (62)
IDS_PER_DRAW = 400

# The random bits come from the kernel for IDS_PER_DRAW ids at a time: getrandom(2) was a third
# of an id's cost (0.45 of 1.7 µs). Taken with next() on a list's iterator, which another
# thread cannot interleave with, so no two ids get the same bits; a forked child starts a draw
# of its own rather than repeat its parent's.
_draw: Iterator[bytes] = iter(())


def _random_bytes() -> bytes:
    global _draw
    try:
        return next(_draw)
    except StopIteration:
        pool = os.urandom(RANDOM_BYTES * IDS_PER_DRAW)
        _draw = iter([pool[at : at + RANDOM_BYTES] for at in range(0, len(pool), RANDOM_BYTES)])
        return next(_draw)


def _new_draw_after_fork() -> None:
    global _draw
    _draw = iter(())


os.register_at_fork(after_in_child=_new_draw_after_fork)


def uuid7() -> str:
    millis = time.time_ns() // 1_000_000
    rand = int.from_bytes(_random_bytes(), "big")
    rand_a = rand >> 68  # 12 bits
    rand_b = rand & ((1 << 62) - 1)
    value = (millis & ((1 << 48) - 1)) << 80 | 0x7 << 76 | rand_a << 64 | 0b10 << 62 | rand_b
    digits = f"{value:032x}"  # formatted by hand: uuid.UUID costs more than the rest here
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"
