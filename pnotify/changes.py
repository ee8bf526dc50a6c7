"""Change events: what a committed write tells the rest of the server.

The writer collects them per batch (write_context.py), and after COMMIT hands them, in cursor
order, to the metrics and the broker, which fans them out to the streams (handlers/sync.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, get_args

import apsw

from pnotify.clock import to_iso_or_none

if TYPE_CHECKING:
    from pnotify.storage.notifications import Notification

ChangeKind = Literal["created", "updated", "status_change", "deleted"]
CHANGE_KINDS: tuple[ChangeKind, ...] = get_args(ChangeKind)
ReadCursors = Callable[[apsw.Connection], tuple[int, int]]


@dataclass(slots=True)
class Change:
    """One committed change to one notification; `notification` is None for a delete.

    `updated` is new content (update by key): the whole notification, as for `created`.
    """

    kind: ChangeKind
    user_id: str
    cursor: int
    notification_id: str
    notification: Notification | None
    # The change as an SSE event, encoded once and shared by every stream it goes to.
    encoded: bytes | None = field(default=None, compare=False, repr=False)

    def payload(self) -> dict[str, Any]:
        """The JSON a client receives: the whole notification, its new status, or its id."""
        notification = self.notification
        if self.kind in ("created", "updated"):
            assert notification is not None
            return notification.to_json()
        if self.kind == "status_change":
            assert notification is not None
            return {
                "id": notification.id,
                "status": notification.status,
                "read_at": to_iso_or_none(notification.read_at),
            }
        return {"id": self.notification_id}


class Cursors:
    """Where the change cursors stand, kept in memory: every stream opened and every poll
    needs them, and reading them cost ~30 µs a stream in the server (measured).

    `current` moves when the broker is handed a batch's changes (app.py), in the same step: a
    fresh stream, subscribed before it reads `current`, neither misses a change nor gets one
    twice. `replayable_after` moves just before the COMMIT of a purge of tombstones (early is
    safe: a client is reset a moment sooner). A client past `current` may have read a change
    that is committed but not handed over yet: for it, the database says.
    """

    def __init__(self, read: ReadCursors, reader: apsw.Connection) -> None:
        self._read = read  # (current, replayable_after) as a connection sees them
        self._reader = reader
        self.current, self.replayable_after = read(reader)

    def published(self, changes: Sequence[Change]) -> None:
        if changes:
            self.current = max(self.current, changes[-1].cursor)  # they come in cursor order

    def before_commit(self, conn: apsw.Connection, used_connection: bool) -> None:
        """In the writer, before a batch's COMMIT: what this transaction leaves replayable.
        Only a job that used the connection can have purged tombstones. A batch that only
        added rows (the POST load's) is not read: a read is one more call into SQLite for the
        writer's helper thread, and one more wait for the GIL the loop holds."""
        if used_connection:
            self.replayable_after = max(self.replayable_after, self._read(conn)[1])

    def for_client(self, after: int | None) -> tuple[int, int]:
        """(current, replayable_after) for a client that has seen up to `after`."""
        if after is not None and after > self.current:
            current, replayable_after = self._read(self._reader)
            return max(current, self.current), max(replayable_after, self.replayable_after)
        return self.current, self.replayable_after
