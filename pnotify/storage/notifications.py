"""Notifications, read: every query is scoped by `user_id`; another user's row simply does not
exist. Reads take the event loop's connection and are index-backed. The writes are in
notification_writes.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import apsw

from pnotify import jsontext
from pnotify.clock import HOUR_US, to_iso, to_iso_or_none

PRIORITIES = ("low", "medium", "high", "critical")
STATUSES = ("unread", "read", "archived")
METADATA_MAX_DEPTH = 32
# List filters accept two more: `inbox`, everything not archived, and `all`.
STATUS_FILTERS = (*STATUSES, "inbox", "all")


# Not frozen, though never changed: a frozen dataclass sets each field through
# object.__setattr__, 4.3 µs to build one of these against 0.5 — and a list page builds fifty.
@dataclass(slots=True)
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
    key: str | None = None
    content_cursor: int = 0

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
            "key": self.key,
        }

    def same_content(self, new: NewNotification) -> bool:
        return (self.title, self.message, self.priority, self.source, self.metadata) == (
            new.title,
            new.message,
            new.priority,
            new.source,
            new.metadata,
        )


def stored_metadata(text: str | None) -> dict[str, Any] | None:
    """A stored metadata object, as it may be shown and sent: rows written before today's
    checks (nested 975 deep, or with NaN) are replaced by a note instead of breaking a page.

    It runs for every row of every list, so the usual case is kept cheap: the strict decoder
    refuses NaN by itself, and a bracket count (C speed) rules out deep nesting before any
    walk is needed.
    """
    if text is None:
        return None
    try:
        value = jsontext.loads(text)
    except RecursionError:  # deeper than the parser's stack: far over the limit, however deep
        return {"unreadable": f"this stored metadata is nested over {METADATA_MAX_DEPTH} deep"}
    except ValueError:
        return {"unreadable": "this stored metadata is not standard JSON"}
    if not isinstance(value, dict):
        return {"unreadable": "this stored metadata is not a JSON object"}
    brackets = text.count("{") + text.count("[")
    if brackets > METADATA_MAX_DEPTH and jsontext.depth(value, METADATA_MAX_DEPTH + 1) > (
        METADATA_MAX_DEPTH
    ):
        return {"unreadable": f"this stored metadata is nested over {METADATA_MAX_DEPTH} deep"}
    return value


@dataclass(slots=True)  # not frozen, as Notification: built for every notification posted
class NewNotification:
    title: str
    message: str | None
    priority: str
    source: str | None
    metadata: str | None  # already-serialised JSON object
    key: str | None = None  # update the user's notification with this key, if there is one
    silent: bool = False  # an update that keeps the read state (a resolution, not an alarm)


@dataclass(frozen=True, slots=True)
class ListFilter:
    status: str | None = None
    priority: str | None = None
    source: str | None = None  # matched without regard to (ASCII) case
    since: int | None = None
    q: str | None = None  # an FTS5 expression from search.to_fts, never the user's text


COLUMNS = (
    "id, user_id, title, message, priority, status, source, created_at, read_at, "
    "metadata, cursor, created_cursor, key, content_cursor"
)
SELECT = f"SELECT {COLUMNS} FROM notifications"  # noqa: S608 (constant)
# The rowids drive (CROSS JOIN keeps that order), each row looked up by it.
_COLUMNS_OF_N = ", ".join("n." + name.strip() for name in COLUMNS.split(","))
_BY_ROWIDS = f"""SELECT n.rowid, {_COLUMNS_OF_N}
FROM json_each(?) AS wanted CROSS JOIN notifications AS n ON n.rowid = wanted.value
WHERE n.user_id = ?"""  # noqa: S608 (constant)


def row_to_notification(row: tuple[Any, ...]) -> Notification:
    return Notification(*row)


def get(conn: apsw.Connection, user_id: str, notification_id: str) -> Notification | None:
    row = conn.execute(
        SELECT + " WHERE id = ? AND user_id = ?", (notification_id, user_id)
    ).fetchone()
    return row_to_notification(row) if row else None


# The list query is assembled only from these constant fragments, chosen by which filters are
# present, so each combination stays index-backed (an `(? IS NULL OR col = ?)` form would not).
_FILTER_SQL = {
    "status": " AND status = ?",
    "priority": " AND priority = ?",
    "source": " AND source = ? COLLATE NOCASE",
    "since": " AND created_at > ?",
    # The index is its own file, attached as `search` (storage/search_index.py).
    "q": " AND rowid IN"
    " (SELECT rowid FROM search.notifications_fts WHERE notifications_fts MATCH ?)",
}
# The counters cover every filter but time and search.
_COUNT_FILTER_SQL = {k: sql for k, sql in _FILTER_SQL.items() if k not in ("since", "q")}


_PAGE = " ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?"


def _where(filters: ListFilter, fragments: dict[str, str]) -> tuple[str, list[Any]]:
    # With a search, the index's matches drive the query (`+user_id` keeps the planner from
    # walking every row of the user instead): a search is usually selective.
    clause = " WHERE +user_id = ?" if filters.q is not None else " WHERE user_id = ?"
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
    rows = conn.execute(SELECT + where + _PAGE, [user_id, *params, limit, offset]).fetchall()
    return [row_to_notification(row) for row in rows], count(conn, user_id, filters)


def page_versions(
    conn: apsw.Connection, user_id: str, filters: ListFilter, limit: int, offset: int
) -> list[tuple[str, int, int]]:
    """The page of `list_page` as (id, cursor, rowid): a caller that keeps each version's
    JSON reads whole rows (`by_rowids`) only for the versions it lacks. Measured at 100k rows,
    50 of them: ~80 µs, against ~250 µs for the whole rows made into Notifications and JSON."""
    where, params = _where(filters, _FILTER_SQL)
    sql = "SELECT id, cursor, rowid FROM notifications" + where + _PAGE  # noqa: S608 (constant parts)
    rows = conn.execute(sql, [user_id, *params, limit, offset]).fetchall()
    return cast("list[tuple[str, int, int]]", rows)


def by_rowids(conn: apsw.Connection, user_id: str, rowids: list[int]) -> dict[int, Notification]:
    """The user's notifications at these rowids, by rowid (one that is gone is left out)."""
    rows = conn.execute(_BY_ROWIDS, (jsontext.compact(rowids), user_id))
    return {row[0]: row_to_notification(row[1:]) for row in rows}


def count(conn: apsw.Connection, user_id: str, filters: ListFilter) -> int:
    if filters.since is not None and (filters.priority, filters.source, filters.q) == (
        None,
        None,
        None,
    ):
        return _count_since(conn, user_id, filters, filters.since)
    if filters.since is not None or filters.q is not None:
        # A time range or a search has no counter: count the matches themselves.
        select, fragments = "SELECT count(*) FROM notifications", _FILTER_SQL
    else:
        select, fragments = "SELECT coalesce(sum(n), 0) FROM notification_counts", _COUNT_FILTER_SQL
    where, params = _where(filters, fragments)
    row = conn.execute(select + where, [user_id, *params]).fetchone()
    return int(row[0]) if row else 0


def _count_since(conn: apsw.Connection, user_id: str, filters: ListFilter, since: int) -> int:
    """Matches after `since` (and of a status): the rest of since's hour row by row, then the
    per-hour counters (notification_hours) for every later hour."""
    next_hour = since // HOUR_US + 1
    where, params = _where(ListFilter(status=filters.status, since=since), _FILTER_SQL)
    partial = _number(
        conn,
        "SELECT count(*) FROM notifications" + where + " AND created_at < ?",  # noqa: S608
        [user_id, *params, next_hour * HOUR_US],
    )
    where, params = _where(ListFilter(status=filters.status), _COUNT_FILTER_SQL)
    later = _number(
        conn,
        "SELECT coalesce(sum(n), 0) FROM notification_hours" + where + " AND hour >= ?",  # noqa: S608
        [user_id, *params, next_hour],
    )
    return partial + later


def _number(conn: apsw.Connection, sql: str, params: list[Any]) -> int:
    row = conn.execute(sql, params).fetchone()
    return int(row[0]) if row else 0


def by_key(conn: apsw.Connection, user_id: str, key: str) -> Notification | None:
    """The newest of the user's notifications with this key that is not archived."""
    row = conn.execute(
        SELECT + " WHERE user_id = ? AND key = ? AND status != 'archived' "
        "ORDER BY created_at DESC LIMIT 1",
        (user_id, key),
    ).fetchone()
    return row_to_notification(row) if row else None


def matching_ids(
    conn: apsw.Connection,
    user_id: str,
    filters: ListFilter,
    statuses: tuple[str, ...],
    limit: int,
) -> list[tuple[str, str]]:
    """Ids and statuses of up to `limit` matches whose status is one of `statuses` (bulk)."""
    where, params = _where(filters, _FILTER_SQL)
    among = ", ".join("?" for _ in statuses)  # placeholders only: the values are bound
    rows = conn.execute(
        f"SELECT id, status FROM notifications{where} AND status IN ({among}) LIMIT ?",  # noqa: S608
        [user_id, *params, *statuses, limit],
    ).fetchall()
    return [(str(row[0]), str(row[1])) for row in rows]


def sources(conn: apsw.Connection, user_id: str, limit: int) -> list[tuple[str, int]]:
    """The user's sources with how many notifications each has, most used first (spellings
    that differ only in case count as one, as the source filter matches them so)."""
    rows: list[tuple[Any, ...]] = conn.execute(
        "SELECT source, sum(n) AS total FROM notification_counts "
        "WHERE user_id = ? AND source != '' GROUP BY source COLLATE NOCASE HAVING total > 0 "
        "ORDER BY total DESC, source LIMIT ?",
        (user_id, limit),
    ).fetchall()
    return [(str(source), int(total)) for source, total in rows]
