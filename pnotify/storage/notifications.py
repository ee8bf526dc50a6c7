"""Notifications: every query is scoped by `user_id`; another user's row simply does not exist.

Writes take a `WriteContext` (they run inside a group-commit batch; see db.py) and record a
`Change` for the live feed; reads take the event loop's connection and are index-backed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import apsw

from pnotify import jsontext
from pnotify.changes import Change
from pnotify.clock import now_us, to_iso, to_iso_or_none
from pnotify.db import WriteContext
from pnotify.ids import uuid7

PRIORITIES = ("low", "medium", "high", "critical")
STATUSES = ("unread", "read", "archived")
METADATA_MAX_DEPTH = 32
# List filters accept two more: `inbox`, everything not archived, and `all`.
STATUS_FILTERS = (*STATUSES, "inbox", "all")


@dataclass(frozen=True, slots=True)
class Notification:
    id: str
    user_id: str
    title: str
    message: str | None
    priority: str
    status: str
    source: str | None
    created_at: int
    read_at: int | None
    metadata: str | None
    cursor: int
    created_cursor: int

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "message": self.message,
            "priority": self.priority,
            "status": self.status,
            "source": self.source,
            "created_at": to_iso(self.created_at),
            "read_at": to_iso_or_none(self.read_at),
            "metadata": stored_metadata(self.metadata),
        }


def stored_metadata(text: str | None) -> dict[str, Any] | None:
    """A stored metadata object, as it may be shown and sent: rows written before today's
    checks (nested 975 deep, or with NaN) are replaced by a note instead of breaking a page."""
    if text is None:
        return None
    try:
        value = jsontext.loads(text)
    except (ValueError, RecursionError):
        return {"unreadable": "this stored metadata is not standard JSON"}
    if not isinstance(value, dict) or jsontext.depth(value, METADATA_MAX_DEPTH + 1) > (
        METADATA_MAX_DEPTH
    ):
        return {"unreadable": f"this stored metadata is nested over {METADATA_MAX_DEPTH} deep"}
    return value


@dataclass(frozen=True, slots=True)
class NewNotification:
    title: str
    message: str | None
    priority: str
    source: str | None
    metadata: str | None  # already-serialised JSON object


@dataclass(frozen=True, slots=True)
class ListFilter:
    status: str | None = None
    priority: str | None = None
    source: str | None = None
    since: int | None = None


_SELECT = (
    "SELECT id, user_id, title, message, priority, status, source, created_at, read_at, "
    "metadata, cursor, created_cursor FROM notifications"
)


def _row(row: tuple[Any, ...]) -> Notification:
    return Notification(*row)


def create(ctx: WriteContext, user_id: str, new: NewNotification) -> Notification:
    cursor = ctx.next_cursor()
    notification = Notification(
        id=uuid7(),
        user_id=user_id,
        title=new.title,
        message=new.message,
        priority=new.priority,
        status="unread",
        source=new.source,
        created_at=now_us(),
        read_at=None,
        metadata=new.metadata,
        cursor=cursor,
        created_cursor=cursor,
    )
    ctx.conn.execute(
        "INSERT INTO notifications (id, user_id, title, message, priority, status, source, "
        "created_at, read_at, metadata, cursor, created_cursor) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            notification.id,
            user_id,
            notification.title,
            notification.message,
            notification.priority,
            notification.status,
            notification.source,
            notification.created_at,
            None,
            notification.metadata,
            cursor,
            cursor,
        ),
    )
    ctx.events.append(Change("created", user_id, cursor, notification.id, notification))
    return notification


def get(conn: apsw.Connection, user_id: str, notification_id: str) -> Notification | None:
    row = conn.execute(
        _SELECT + " WHERE id = ? AND user_id = ?", (notification_id, user_id)
    ).fetchone()
    return _row(row) if row else None


def set_status(
    ctx: WriteContext, user_id: str, notification_id: str, status: str
) -> Notification | None:
    """Read sets `read_at` (once), unread clears it, archived keeps it. Same status: no change."""
    current = get(ctx.conn, user_id, notification_id)
    if current is None:
        return None
    if current.status == status:
        return current
    if status == "read":
        read_at = current.read_at if current.read_at is not None else now_us()
    elif status == "unread":
        read_at = None
    else:
        read_at = current.read_at
    cursor = ctx.next_cursor()
    row = ctx.conn.execute(
        "UPDATE notifications SET status = ?, read_at = ?, cursor = ? "
        "WHERE id = ? AND user_id = ? "
        "RETURNING id, user_id, title, message, priority, status, source, created_at, read_at, "
        "metadata, cursor, created_cursor",
        (status, read_at, cursor, notification_id, user_id),
    ).fetchone()
    assert row is not None  # the row was read in this same transaction
    updated = _row(row)
    ctx.events.append(Change("status_change", user_id, cursor, updated.id, updated))
    return updated


def mark_all_read(ctx: WriteContext, user_id: str, limit: int) -> int:
    """Mark up to `limit` unread notifications read; returns how many (0 when none are left)."""
    rows = ctx.conn.execute(
        "SELECT id FROM notifications WHERE user_id = ? AND status = 'unread' LIMIT ?",
        (user_id, limit),
    ).fetchall()
    for (notification_id,) in rows:
        set_status(ctx, user_id, str(notification_id), "read")
    return len(rows)


def delete(
    ctx: WriteContext, user_id: str, notification_id: str, *, deleted_at: int | None = None
) -> bool:
    deleted = ctx.conn.execute(
        "DELETE FROM notifications WHERE id = ? AND user_id = ? RETURNING id",
        (notification_id, user_id),
    ).fetchall()
    if not deleted:
        return False
    cursor = ctx.next_cursor()
    ctx.conn.execute(
        "INSERT INTO tombstones (id, user_id, cursor, deleted_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (id) DO UPDATE SET cursor = excluded.cursor, deleted_at = excluded.deleted_at",
        (notification_id, user_id, cursor, now_us() if deleted_at is None else deleted_at),
    )
    ctx.events.append(Change("deleted", user_id, cursor, notification_id, None))
    return True


# The list query is assembled only from these constant fragments, chosen by which filters are
# present, so each combination stays index-backed (an `(? IS NULL OR col = ?)` form would not).
_FILTER_SQL = {
    "status": " AND status = ?",
    "priority": " AND priority = ?",
    "source": " AND source = ?",
    "since": " AND created_at > ?",
}
# The counters cover every filter but time.
_COUNT_FILTER_SQL = {name: sql for name, sql in _FILTER_SQL.items() if name != "since"}


def _where(filters: ListFilter, fragments: dict[str, str]) -> tuple[str, list[Any]]:
    clause = " WHERE user_id = ?"
    params: list[Any] = []
    for name, fragment in fragments.items():
        value = getattr(filters, name)
        if name == "status" and value == "all":
            continue
        if name == "status" and value == "inbox":
            # `!=` keeps the newest-first walk on the (user_id, created_at) index.
            clause += " AND status != 'archived'"
        elif value is not None:
            clause += fragment
            params.append(value)
    return clause, params


def list_page(
    conn: apsw.Connection, user_id: str, filters: ListFilter, limit: int, offset: int
) -> tuple[list[Notification], int]:
    """Newest first, and the total number of matches."""
    where, params = _where(filters, _FILTER_SQL)
    rows = conn.execute(
        _SELECT + where + " ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?",
        [user_id, *params, limit, offset],
    ).fetchall()
    return [_row(row) for row in rows], count(conn, user_id, filters)


def count(conn: apsw.Connection, user_id: str, filters: ListFilter) -> int:
    if filters.since is not None:
        # A time range has no counter; it is an index range scan of the matches.
        select, fragments = "SELECT count(*) FROM notifications", _FILTER_SQL
    else:
        select, fragments = "SELECT coalesce(sum(n), 0) FROM notification_counts", _COUNT_FILTER_SQL
    where, params = _where(filters, fragments)
    row = conn.execute(select + where, [user_id, *params]).fetchone()
    return int(row[0]) if row else 0


def current_cursor(conn: apsw.Connection) -> tuple[int, int]:
    """The last change cursor handed out, and the oldest one from which replay is exact."""
    values: dict[str, int] = {
        str(key): int(value)
        for key, value in conn.execute(
            "SELECT key, value FROM server_state WHERE key IN ('change_cursor', 'replayable_after')"
        )
    }
    return values.get("change_cursor", 0), values.get("replayable_after", 0)


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
        _SELECT + " WHERE user_id = ? AND cursor > ? ORDER BY cursor LIMIT ?",
        (user_id, after, limit),
    ).fetchall()
    deleted: list[tuple[Any, ...]] = conn.execute(
        "SELECT id, cursor FROM tombstones WHERE user_id = ? AND cursor > ? "
        "ORDER BY cursor LIMIT ?",
        (user_id, after, limit),
    ).fetchall()
    changes = [
        Change(
            "created" if n.created_cursor > after else "status_change", user_id, n.cursor, n.id, n
        )
        for n in map(_row, rows)
    ]
    changes.extend(
        Change("deleted", user_id, cursor, notification_id, None)
        for notification_id, cursor in deleted
    )
    changes.sort(key=lambda change: change.cursor)
    return changes[:limit]
