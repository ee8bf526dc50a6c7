"""The list's kept encodings: keyed by (id, cursor), so a changed row is encoded afresh."""

from __future__ import annotations

import dataclasses
import json

from pnotify.handlers.notifications import EncodedNotifications
from pnotify.storage.notifications import Notification

ROW = Notification(
    id="01a2a3a4-0000-7000-8000-000000000001",
    user_id="u",
    title="Disk “full”",
    message=None,
    priority="high",
    status="unread",
    source="web-01",
    created_at=1_800_000_000_000_000,
    read_at=None,
    metadata='{"host":"web-01"}',
    cursor=7,
    created_cursor=7,
)


def test_a_row_is_encoded_once_per_cursor() -> None:
    kept = EncodedNotifications()
    first = kept.of(ROW)
    assert json.loads(first) == ROW.to_json()
    assert kept.of(dataclasses.replace(ROW)) is first  # the same row again: the same text
    read = dataclasses.replace(ROW, status="read", read_at=ROW.created_at + 5, cursor=8)
    assert json.loads(kept.of(read))["status"] == "read"


def test_the_kept_encodings_are_bounded() -> None:
    kept = EncodedNotifications(capacity=3)
    for cursor in range(10):
        kept.of(dataclasses.replace(ROW, cursor=cursor))
    assert len(kept._kept) == 3
