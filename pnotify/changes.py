"""Change events: what a committed write tells the rest of the server.

The writer collects them per batch (db.WriteContext), and after COMMIT hands them, in cursor
order, to the metrics and the broker, which fans them out to the streams (handlers/sync.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, get_args

from pnotify.clock import to_iso_or_none

if TYPE_CHECKING:
    from pnotify.storage.notifications import Notification

ChangeKind = Literal["created", "updated", "status_change", "deleted"]
CHANGE_KINDS: tuple[ChangeKind, ...] = get_args(ChangeKind)


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
