"""Time as microseconds and its ISO form; UUIDv7 ids."""

from __future__ import annotations

import uuid

from pnotify import clock
from pnotify.ids import uuid7


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
