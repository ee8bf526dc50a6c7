"""Time as microseconds and its ISO form; UUIDv7 ids."""

from __future__ import annotations

import os
import uuid
from concurrent.futures import ThreadPoolExecutor

from pnotify import clock
from pnotify.ids import IDS_PER_DRAW, uuid7


def test_iso_round_trip_keeps_microseconds() -> None:
    micros = 1_767_323_045_123_456
    text = clock.to_iso(micros)
    assert text == "2026-01-02T03:04:05.123456+00:00"
    assert clock.parse_iso(text) == micros


def test_uuid7_is_version_7_and_time_ordered() -> None:
    ids = [uuid7() for _ in range(50)]
    parsed = [uuid.UUID(i) for i in ids]
    assert all(u.version == 7 and u.variant == uuid.RFC_4122 for u in parsed)
    millis = [u.int >> 80 for u in parsed]
    assert millis == sorted(millis)


def test_iso_text_is_right_for_any_order_of_seconds() -> None:
    """The text of the last second formatted is kept: a different second, earlier or later,
    gets its own."""
    base = 1_767_323_045_000_000  # 2026-01-02T03:04:05
    for micros, expected in [
        (base + 999_999, "2026-01-02T03:04:05.999999+00:00"),
        (base + 1_000_000, "2026-01-02T03:04:06.000000+00:00"),
        (base + 1, "2026-01-02T03:04:05.000001+00:00"),
        (base - 86_400_000_000, "2026-01-01T03:04:05.000000+00:00"),
        (base - 86_400_000_000 + 7, "2026-01-01T03:04:05.000007+00:00"),
    ]:
        assert clock.to_iso(micros) == expected


def _random_part(id_: str) -> int:
    return uuid.UUID(id_).int & ((1 << 62) - 1)  # rand_b


def test_ids_stay_unique_across_draws_and_threads() -> None:
    with ThreadPoolExecutor(4) as pool:
        batches = list(pool.map(lambda _: [uuid7() for _ in range(IDS_PER_DRAW)], range(8)))
    ids = [id_ for batch in batches for id_ in batch]
    assert len(set(ids)) == len(ids) == 8 * IDS_PER_DRAW
    assert len({_random_part(id_) for id_ in ids}) == len(ids)


def test_a_forked_child_draws_random_bits_of_its_own() -> None:
    uuid7()  # this process has bits drawn and not yet used
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover (the child)
        os.write(write, uuid7().encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        childs_id = pipe.read()
    os.waitpid(child, 0)
    assert _random_part(childs_id) != _random_part(uuid7())
