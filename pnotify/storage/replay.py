"""The change log as a device replays it: the cursor handed out last, and each notification
changed after a cursor, in its current state, with the deletes its tombstones recorded."""

from __future__ import annotations

from typing import Any

import apsw

from pnotify.changes import Change, ChangeKind
from pnotify.storage.notifications import SELECT, Notification, row_to_notification


def current_cursor(conn: apsw.Connection) -> tuple[int, int]:
    """The last change cursor handed out, and the oldest one from which replay is exact."""
    current, replayable_after = conn.execute(
        "SELECT (SELECT value FROM server_state WHERE key = 'change_cursor'),"
        " (SELECT value FROM server_state WHERE key = 'replayable_after')"
    ).fetchone() or (None, None)
    return int(current or 0), int(replayable_after or 0)


def created_cursor_of(conn: apsw.Connection, user_id: str, notification_id: str) -> int | None:
    """For a `Last-Event-ID` that is a notification id (the spec's form)."""
    row = conn.execute(
        "SELECT created_cursor FROM notifications WHERE id = ? AND user_id = ?",
        (notification_id, user_id),
    ).fetchone()
    return int(row[0]) if row else None


def changes_after(conn: apsw.Connection, user_id: str, after: int, limit: int) -> list[Change]:
    """Changes after a cursor, oldest first, at most `limit`: the backlog for replay and polling.

    Each notification appears once, in its current state, at the cursor of its latest change
    (a compacted log): a row created after `after` is a `created` change, an older row that
    changed since is a `status_change`; deleted rows come from their tombstones.
    """
    rows = conn.execute(
        SELECT + " WHERE user_id = ? AND cursor > ? ORDER BY cursor LIMIT ?",
        (user_id, after, limit),
    ).fetchall()
    deleted: list[tuple[Any, ...]] = conn.execute(
        "SELECT id, cursor FROM tombstones WHERE user_id = ? AND cursor > ? "
        "ORDER BY cursor LIMIT ?",
        (user_id, after, limit),
    ).fetchall()
    changes = [
        Change(_replayed_kind(n, after), user_id, n.cursor, n.id, n)
        for n in map(row_to_notification, rows)
    ]
    changes.extend(
        Change("deleted", user_id, cursor, notification_id, None)
        for notification_id, cursor in deleted
    )
    changes.sort(key=lambda change: change.cursor)
    return changes[:limit]


def _replayed_kind(notification: Notification, after: int) -> ChangeKind:
    if notification.created_cursor > after:
        return "created"
    if notification.content_cursor > after:
        return "updated"
    return "status_change"
