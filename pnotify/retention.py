"""Retention, answering the spec's open question on expiry.

- `AUTO_ARCHIVE_AFTER_DAYS`: read notifications older than this become archived.
- `DELETE_ARCHIVED_AFTER_DAYS`: archived notifications older than this are deleted.
- `TOMBSTONE_RETENTION_DAYS`: tombstones of deletes are kept this long, so devices that were
  offline learn of the delete; a device away longer gets a `reset` and refetches.

Every change goes through the normal write path, so it takes a change cursor and reaches other
devices like any other. Work is done in small batches (one writer job each), user by user on
the per-user indexes, so a sweep never holds the event loop for long.
"""

from __future__ import annotations

from dataclasses import dataclass

from pnotify.clock import DAY_US
from pnotify.storage import notification_writes as writes
from pnotify.write_context import WriteContext


@dataclass(frozen=True)
class RetentionPolicy:
    archive_after_days: int | None
    delete_archived_after_days: int | None
    tombstone_days: int


def sweep_batch(ctx: WriteContext, policy: RetentionPolicy, now: int, limit: int) -> int:
    """Do at most `limit` retention actions; returns how many were done (0: nothing left)."""
    done = 0
    user_ids = [str(uid) for (uid,) in ctx.conn.execute("SELECT id FROM users ORDER BY id")]
    for user_id in user_ids:
        if policy.archive_after_days is not None and done < limit:
            cutoff = now - policy.archive_after_days * DAY_US
            for notification_id in _older(ctx, user_id, "read", cutoff, limit - done):
                writes.set_status(ctx, user_id, notification_id, "archived")
                done += 1
        if policy.delete_archived_after_days is not None and done < limit:
            cutoff = now - policy.delete_archived_after_days * DAY_US
            for notification_id in _older(ctx, user_id, "archived", cutoff, limit - done):
                writes.delete(ctx, user_id, notification_id, deleted_at=now)
                done += 1
        if done < limit:
            before = now - policy.tombstone_days * DAY_US
            done += _purge_tombstones(ctx, user_id, before, limit - done)
    return done


def _older(ctx: WriteContext, user_id: str, status: str, cutoff: int, limit: int) -> list[str]:
    rows = ctx.conn.execute(
        "SELECT id FROM notifications WHERE user_id = ? AND status = ? AND created_at < ? LIMIT ?",
        (user_id, status, cutoff, limit),
    )
    return [str(notification_id) for (notification_id,) in rows]


def _purge_tombstones(ctx: WriteContext, user_id: str, before: int, limit: int) -> int:
    purged = ctx.conn.execute(
        "DELETE FROM tombstones WHERE id IN (SELECT id FROM tombstones WHERE user_id = ? "
        "AND deleted_at < ? LIMIT ?) RETURNING cursor",
        (user_id, before, limit),
    ).fetchall()
    if purged:
        newest = max(int(cursor) for (cursor,) in purged)  # type: ignore[arg-type]
        # Replay from before this cursor could miss a delete: such clients get a reset.
        ctx.conn.execute(
            "UPDATE server_state SET value = max(value, ?) WHERE key = 'replayable_after'",
            (newest,),
        )
    return len(purged)
