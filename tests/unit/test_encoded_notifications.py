"""The list's kept encodings: keyed by (id, cursor), so a changed row is encoded afresh, and
a page is made from them, reading whole rows only for versions not kept."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

import apsw
import pytest

from pnotify import db, jsontext
from pnotify.handlers.notifications import EncodedNotifications
from pnotify.storage import notification_writes as writes
from pnotify.storage import notifications as store
from pnotify.storage import search_index, users
from pnotify.storage.notifications import Notification
from pnotify.write_context import WriteContext

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


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[apsw.Connection]:
    connection = db.open_and_migrate(tmp_path / "pages.db")
    search_index.attach(connection, tmp_path / "pages.db")
    yield connection
    connection.close()


def _seed(conn: apsw.Connection, user_id: str, count: int) -> None:
    with conn:
        ctx = WriteContext(conn, 0)
        for number in range(count):
            status = "unread" if number % 3 else "read"
            new = store.NewNotification(f"Disk {number}", "full", "high", f"web-{number % 4}", None)
            notification = writes.create(ctx, user_id, new)
            if status == "read":
                writes.set_status(ctx, user_id, notification.id, "read")
    search_index.bring_up_to_date(Path(conn.filename))


@pytest.mark.parametrize(
    "filters",
    [
        store.ListFilter(),
        store.ListFilter(status="read"),
        store.ListFilter(source="WEB-1"),
        store.ListFilter(q='"disk"*'),
        store.ListFilter(since=0),
    ],
)
def test_a_page_from_kept_versions_is_the_page_of_whole_rows(
    conn: apsw.Connection, filters: store.ListFilter
) -> None:
    user = users.upsert(conn, "i", "pages", "", "", login=False)
    _seed(conn, user.id, 40)
    kept = EncodedNotifications()
    for offset in (0, 7, 35, 60):
        items, total = store.list_page(conn, user.id, filters, 10, offset)
        expected = [jsontext.compact(n.to_json()) for n in items]
        assert kept.page(conn, user.id, filters, 10, offset) == (expected, total)  # read
        assert kept.page(conn, user.id, filters, 10, offset) == (expected, total)  # kept


def test_a_kept_version_is_not_read_again_and_a_new_one_is(conn: apsw.Connection) -> None:
    user = users.upsert(conn, "i", "versions", "", "", login=False)
    _seed(conn, user.id, 5)
    kept = EncodedNotifications()
    first, _ = kept.page(conn, user.id, store.ListFilter(), 5, 0)
    # Behind the cache's back, the same version: the kept text is served (no row read).
    conn.execute("UPDATE notifications SET title = 'changed' WHERE user_id = ?", (user.id,))
    assert kept.page(conn, user.id, store.ListFilter(), 5, 0)[0] == first
    newest = json.loads(first[0])
    with conn:  # a real change takes a new cursor: that row alone is read again
        ctx = WriteContext(conn, 100)
        writes.set_status(ctx, user.id, newest["id"], "archived")
    again, _ = kept.page(conn, user.id, store.ListFilter(), 5, 0)
    assert json.loads(again[0])["status"] == "archived"
    assert json.loads(again[0])["title"] == "changed"
    assert again[1:] == first[1:]
