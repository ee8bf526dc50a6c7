"""Notifications, written. Each function takes a `WriteContext` (it runs inside a group-commit
batch, see writer.py), takes the next change cursor for what it changes, and records the `Change`
for the live feed. Nothing is recorded, and no cursor taken, when nothing changes.

Update by key — what an update does to the read state, as an on-call person expects:
- an ordinary update (an alert firing again, a job failing again) needs attention again: the
  notification becomes `unread` and its `read_at` is cleared;
- a `silent` update (an alert's resolution) changes what it says but keeps its read state:
  visible, without demanding attention;
- an update that changes nothing (Alertmanager re-sends identical bodies) emits nothing.
"""

from __future__ import annotations

from pnotify.changes import Change, ChangeKind
from pnotify.clock import now_us
from pnotify.ids import uuid7
from pnotify.storage.notifications import (
    COLUMNS,
    STATUSES,
    ListFilter,
    NewNotification,
    Notification,
    by_key,
    get,
    matching_ids,
    row_to_notification,
)
from pnotify.write_context import BulkInsert, WriteContext

# The column list is a constant of this package; values are always bound parameters.
_RETURNING = " RETURNING " + COLUMNS
_NEW_ROW = BulkInsert("notifications", COLUMNS.split(", "))
_UPDATE_CONTENT = (  # noqa: S608 (constants only)
    "UPDATE notifications SET title = ?, message = ?, priority = ?, source = ?, metadata = ?, "
    "status = ?, read_at = ?, cursor = ?, content_cursor = ? WHERE id = ? AND user_id = ?"
) + _RETURNING
_UPDATE_STATUS = (  # noqa: S608 (constants only)
    "UPDATE notifications SET status = ?, read_at = ?, cursor = ? WHERE id = ? AND user_id = ?"
) + _RETURNING


def publish(ctx: WriteContext, user_id: str, new: NewNotification) -> tuple[Notification, bool]:
    """Create, or update the notification with the same key; returns it and whether it is new."""
    if new.key is not None:
        current = by_key(ctx.conn, user_id, new.key)
        if current is not None:
            return update(ctx, current, new), False
    return create(ctx, user_id, new), True


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
        key=new.key,
        content_cursor=cursor,
    )
    ctx.insert(
        _NEW_ROW,
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
            new.key,
            cursor,
        ),
    )
    ctx.events.append(Change("created", user_id, cursor, notification.id, notification))
    return notification


def update(ctx: WriteContext, current: Notification, new: NewNotification) -> Notification:
    """New content for an existing notification (see the module docstring for the read state)."""
    content_changed = not current.same_content(new)
    status, read_at = (current.status, current.read_at) if new.silent else ("unread", None)
    if not content_changed and (status, read_at) == (current.status, current.read_at):
        return current
    cursor = ctx.next_cursor()
    content_cursor = cursor if content_changed else current.content_cursor
    row = ctx.conn.execute(
        _UPDATE_CONTENT,
        (
            new.title,
            new.message,
            new.priority,
            new.source,
            new.metadata,
            status,
            read_at,
            cursor,
            content_cursor,
            current.id,
            current.user_id,
        ),
    ).fetchone()
    assert row is not None  # read in this same transaction
    updated = row_to_notification(row)
    kind: ChangeKind = "updated" if content_changed else "status_change"
    ctx.events.append(Change(kind, updated.user_id, cursor, updated.id, updated))
    return updated


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
        _UPDATE_STATUS,
        (status, read_at, cursor, notification_id, user_id),
    ).fetchone()
    assert row is not None  # the row was read in this same transaction
    updated = row_to_notification(row)
    ctx.events.append(Change("status_change", user_id, cursor, updated.id, updated))
    return updated


# Bulk actions. Given ids, each is set exactly (undo relies on that: archived back to read);
# given only filters, an action takes just the rows it is meant for, so "mark all read" on a
# view that includes archived rows does not bring them back.
BULK_ACTIONS = ("read", "unread", "archive", "delete")
_TARGET = {"read": "read", "unread": "unread", "archive": "archived"}
_TAKES = {
    "read": ("unread",),
    "unread": ("read",),
    "archive": ("unread", "read"),
    "delete": STATUSES,
}
Changed = list[tuple[str, str]]  # (id, its status before)


def apply_to_ids(ctx: WriteContext, user_id: str, ids: list[str], action: str) -> Changed:
    changed: Changed = []
    for notification_id in ids:
        current = get(ctx.conn, user_id, notification_id)
        if current is None:
            continue
        if action == "delete":
            delete(ctx, user_id, notification_id)
        elif current.status != _TARGET[action]:
            set_status(ctx, user_id, notification_id, _TARGET[action])
        else:
            continue
        changed.append((notification_id, current.status))
    return changed


def apply_to_matching(
    ctx: WriteContext, user_id: str, filters: ListFilter, action: str, limit: int
) -> Changed:
    """One batch of at most `limit`: the caller repeats until a batch comes back short."""
    found = matching_ids(ctx.conn, user_id, filters, _TAKES[action], limit)
    return apply_to_ids(ctx, user_id, [notification_id for notification_id, _ in found], action)


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
