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
