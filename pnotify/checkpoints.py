"""WAL checkpoints for the writer: between its batches, in its helper thread, never in a COMMIT.

SQLite's automatic checkpoint runs inside the COMMIT that takes the WAL past 1,000 pages: that
batch's requests wait while the WAL is copied into the database and the database synced. In a
write loop of 16-row transactions that made the transaction p99 16.5 ms against 3.8 ms without
it (synchronous=NORMAL, 6,000 transactions). So the writer's connection never checkpoints in a
COMMIT: its WAL hook only notes how long the WAL is, and once it is past PAGES the writer runs a
PASSIVE checkpoint in its helper thread after a batch's requests have been answered, while the
loop reads the next requests, and before its next BEGIN.

Why not on a thread of its own, concurrently (as here before): under a steady stream of writes
a concurrent checkpoint never caught up — each batch committed new frames while it copied — so
the WAL was never started over; it grew to CAP_PAGES and then the RESTART that bounds it held
every write back for 73 to 1,242 ms (measured under `make bench`'s POST load: the POST p99).
Between batches nothing writes, the checkpoint copies every frame, and the next transaction
starts the WAL over. If readers keep it from being reused until it passes CAP_PAGES, a RESTART
checkpoint (which waits for them, and holds new writes back meanwhile) bounds it.
"""

from __future__ import annotations

import logging

import apsw

log = logging.getLogger(__name__)

# SQLite's own threshold for its automatic checkpoint, kept.
PAGES = 1_000
CAP_PAGES = 16_000  # 64 MiB of 4 KiB pages


class Checkpointer:
    def __init__(self, pages: int = PAGES, cap_pages: int = CAP_PAGES) -> None:
        self.pages = pages
        self.cap_pages = cap_pages
        self._wal_pages = 0
        self._next_at = pages  # the WAL length at which a checkpoint is due
        self.checkpoints_total = 0

    def take_over(self, writer: apsw.Connection) -> None:
        """Checkpoint for `writer` from now on: its WAL hook replaces the automatic checkpoint."""
        writer.set_wal_hook(self._committed)

    @property
    def due(self) -> bool:
        return self._wal_pages >= self._next_at

    @property
    def wal_pages(self) -> int:
        """The WAL's length in pages after the last COMMIT."""
        return self._wal_pages

    def _committed(self, connection: apsw.Connection, database: str, pages: int) -> int:
        # Called by SQLite in the committing thread, after each COMMIT: just a note.
        if pages < self._wal_pages:  # the WAL started over
            self._next_at = self.pages
        self._wal_pages = pages
        return apsw.SQLITE_OK

    def checkpoint(self, conn: apsw.Connection) -> None:
        """Copy the WAL into the database, on the writer's connection between its transactions."""
        over_cap = self._wal_pages >= self.cap_pages
        mode = apsw.SQLITE_CHECKPOINT_RESTART if over_cap else apsw.SQLITE_CHECKPOINT_PASSIVE
        # Should a reader keep the WAL from starting over, the next try after as many pages.
        self._next_at = self._wal_pages + self.pages
        try:
            conn.wal_checkpoint(mode=mode)
        except apsw.BusyError:
            return  # a reader held on: a later batch tries again
        except apsw.Error:
            log.exception("WAL checkpoint failed")
            return
        self.checkpoints_total += 1
