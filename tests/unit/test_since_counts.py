"""`since` totals from per-hour counters agree with counting the rows, through every write."""

from __future__ import annotations

import random
import uuid
from pathlib import Path

import apsw
import pytest

from pnotify import db
from pnotify.clock import HOUR_US, SECOND_US
from pnotify.storage import notification_writes as writes
from pnotify.storage import notifications as store
from pnotify.storage import users
from pnotify.write_context import WriteContext

START = 1_800_000_000 * SECOND_US  # some moment in 2027


def _brute(conn: apsw.Connection, user_id: str, since: int, status: str | None) -> int:
    rows = [
        n
        for n in store.list_page(conn, user_id, store.ListFilter(status="all"), 200, 0)[0]
        if n.created_at > since
    ]
    if status == "inbox":
        return sum(1 for n in rows if n.status != "archived")
    return sum(1 for n in rows if status in (None, "all", n.status))


def test_since_totals_match_the_rows(tmp_path: Path) -> None:
    conn = db.open_and_migrate(tmp_path / "since.db")
    user = users.upsert(conn, "i", "since", "", "", login=False)
    other = users.upsert(conn, "i", "other", "", "", login=False)
    rng = random.Random(3)
    moments = sorted(START + rng.randrange(5 * HOUR_US) for _ in range(150))
    with conn:
        for index, moment in enumerate(moments):
            owner = other.id if index % 10 == 0 else user.id
            conn.execute(
                "INSERT INTO notifications (id, user_id, title, priority, status, created_at, "
                "cursor, created_cursor, content_cursor) VALUES (?, ?, 't', 'low', 'unread', ?, "
                "?, ?, ?)",
                (str(uuid.uuid4()), owner, moment, index + 1, index + 1, index + 1),
            )
        conn.execute("UPDATE server_state SET value = 150 WHERE key = 'change_cursor'")
    mine = store.list_page(conn, user.id, store.ListFilter(), 200, 0)[0]
    with conn:
        ctx = WriteContext(conn, 150)
        for notification in mine[::3]:
            writes.set_status(ctx, user.id, notification.id, rng.choice(["read", "archived"]))
        for notification in mine[1::7]:
            writes.delete(ctx, user.id, notification.id)
    for since in [START - 1, *rng.sample(moments, 20), moments[-1], START + 6 * HOUR_US]:
        for status in (None, "all", "inbox", "unread", "read", "archived"):
            counted = store.count(conn, user.id, store.ListFilter(status=status, since=since))
            assert counted == _brute(conn, user.id, since, status), (since, status)
    conn.close()


@pytest.mark.parametrize("hour", [0, 1])
def test_the_first_hour_is_counted_row_by_row(tmp_path: Path, hour: int) -> None:
    conn = db.open_and_migrate(tmp_path / "edge.db")
    user = users.upsert(conn, "i", "edge", "", "", login=False)
    boundary = START - START % HOUR_US + hour * HOUR_US
    with conn:
        for index, moment in enumerate((boundary - 1, boundary, boundary + 1)):
            conn.execute(
                "INSERT INTO notifications (id, user_id, title, priority, status, created_at, "
                "cursor, created_cursor, content_cursor) VALUES (?, ?, 't', 'low', 'unread', ?, "
                "?, ?, ?)",
                (str(uuid.uuid4()), user.id, moment, index + 1, index + 1, index + 1),
            )
    totals = [
        store.count(conn, user.id, store.ListFilter(since=since))
        for since in (boundary - 2, boundary - 1, boundary, boundary + 1)
    ]
    assert totals == [3, 2, 1, 0]
    conn.close()
