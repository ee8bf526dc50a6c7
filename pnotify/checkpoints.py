"""WAL checkpoints for the writer: never in a COMMIT; copied beside the batches, finished between.

SQLite's automatic checkpoint runs inside the COMMIT that takes the WAL past 1,000 pages: that
batch's requests wait while the WAL is copied into the database and the database synced. In a
write loop of 16-row transactions that made the transaction p99 16.5 ms against 3.8 ms without
it (synchronous=NORMAL, 6,000 transactions). So the writer's connection never checkpoints in a
COMMIT: its WAL hook only notes how long the WAL is.

Once the WAL is past PAGES, a PASSIVE checkpoint on a connection of its own, in a thread of its
own, copies the bulk of it while the batches go on (`start_copying`). Then the writer finishes
the job on its own connection between two batches (`checkpoint`): it copies only the frames
committed meanwhile, so nothing writes while it runs, every frame is in the database after it,
and the next transaction starts the WAL over. Each step alone falls short: a checkpoint only
beside the batches never caught up — each batch committed new frames while it copied, so the
WAL never started over; it grew to CAP_PAGES and the RESTART that bounds it held every write
back for 73 to 1,242 ms (the POST p99 under `make bench`) — and a whole checkpoint between
batches (5 to 12 ms, ~1 batch in 25 under `make bench`'s POST load) was the next batch's wait,
the largest part of the POST p99; the finishing step takes ~1.7 ms, measured. If readers keep
the WAL from being reused until it passes CAP_PAGES, a RESTART checkpoint between batches
(which waits for them, and holds new writes back meanwhile) bounds it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

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
        self._next_at = pages  # the WAL length at which copying is due
        self._connect: Callable[[], apsw.Connection] | None = None
        self._copier: apsw.Connection | None = None  # used in the copying thread only
        self._copying = False  # set here, cleared by the copying thread when it is done
        self._copied = False  # the bulk is in the database: the writer's step is due
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pnotify-checkpoint")
        self.checkpoints_total = 0

    def take_over(self, writer: apsw.Connection, connect: Callable[[], apsw.Connection]) -> None:
        """Checkpoint for `writer` from now on: its WAL hook replaces the automatic checkpoint;
        `connect` opens the connection that copies beside it."""
        self._connect = connect
        writer.set_wal_hook(self._committed)

    @property
    def copying_due(self) -> bool:
        return self._wal_pages >= self._next_at and not self._copying and not self._copied

    @property
    def due(self) -> bool:
        """The writer's step, between two batches: after the bulk was copied, or past the cap."""
        return self._copied or self._wal_pages >= self.cap_pages

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

    def start_copying(self) -> None:
        """Copy the WAL into the database beside the writer's batches, in a thread of its own."""
        # Should a reader keep the WAL from starting over, the next try after as many pages.
        self._next_at = self._wal_pages + self.pages
        self._copying = True
        self._thread.submit(self._copy)

    def _copy(self) -> None:
        try:
            if self._copier is None:
                assert self._connect is not None, "take_over first"
                self._copier = self._connect()
            self._copier.wal_checkpoint(mode=apsw.SQLITE_CHECKPOINT_PASSIVE)
            self._copied = True
        except apsw.BusyError:
            pass  # another checkpoint ran: a later batch tries again
        except apsw.Error:
            log.exception("WAL checkpoint failed")
        finally:
            self._copying = False

    def checkpoint(self, conn: apsw.Connection) -> None:
        """Copy what is left of the WAL, on the writer's connection between its transactions."""
        mode = (
            apsw.SQLITE_CHECKPOINT_RESTART
            if self._wal_pages >= self.cap_pages
            else apsw.SQLITE_CHECKPOINT_PASSIVE
        )
        self._copied = False
        self._next_at = self._wal_pages + self.pages
        try:
            conn.wal_checkpoint("main", mode)  # not the attached search index's
        except apsw.BusyError:
            return  # a reader held on: a later batch tries again
        except apsw.Error:
            log.exception("WAL checkpoint failed")
            return
        self.checkpoints_total += 1

    def finish_copying(self) -> None:
        """Wait until a copy under way is done."""
        self._thread.submit(lambda: None).result()

    def close(self) -> None:
        """Wait for a copy under way; close the copying connection."""
        self._thread.submit(self._close_copier).result()
        self._thread.shutdown(wait=True)

    def _close_copier(self) -> None:
        if self._copier is not None:
            self._copier.close()
            self._copier = None
