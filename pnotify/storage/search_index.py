"""Bringing the full-text index up to date with the rows written in this transaction.

Inserts only note their rowid (see sql/0006_search_batched.sql for why); whoever commits
notifications calls `index_pending` first, in the same transaction: the writer before each
batch's COMMIT, and once at start-up for rows another program may have left pending. A search
therefore never sees a committed notification missing from the index.

After every batch the writer takes a bounded step of merging the index's segments
(`merge_step`; sql/0007_search_merging.sql says why), in its helper thread once the batch's
requests are answered, in a transaction of its own: a step that merges takes 8 to 15 ms
(measured under `make bench`'s POST load), which every request of the batch waited for while
it ran inside the batch's transaction (batch p99 21 ms against a median of 8). A large
catch-up — rows loaded by another program — instead merges the whole index into one segment
there and then: left as it is, its big new segments would be merged again with every few small
ones that follow (~50 ms for one COMMIT after 100k rows, measured). It merges in chunks, each
as large as all the chunks before it, the whole index after each (`_catch_up`): FTS5 puts what
a whole merge makes above the index's highest level, so after a few the bulk sits deep, where
later batches' segments reach it only after about as many rows again. Merged once, it sat on
level 0 or 1, and each level that later batches filled merged into it again: every step of
those merges writes at least one word's whole list of rows (FTS5 stops only between words),
~100-400 pages, 10-25 ms. Measured over 48,000 rows in batches of 32 after a catch-up of
100,000: 68 such steps against 11; under `make bench`'s POST load they were the largest part
of the POST p99. The catch-up itself takes longer (0.44 -> 0.64 s for 100,000 rows).
"""

from __future__ import annotations

import apsw

# CROSS JOIN: SQLite then loops over the noted rows and looks each notification up, as it must.
# With a plain JOIN it carries `rowid <= :last` over to the notifications and, without table
# statistics, walks every notification up to there instead (100,000 rows: 18 ms a batch).
_INDEX_PENDING = """
INSERT INTO notifications_fts (rowid, title, message, source)
SELECT n.rowid, n.title, n.message, n.source
FROM notifications_fts_pending AS p CROSS JOIN notifications AS n ON n.rowid = p.rowid
WHERE p.rowid <= :last;
DELETE FROM notifications_fts_pending WHERE rowid <= :last;
"""
_NTH_PENDING = "SELECT rowid FROM notifications_fts_pending ORDER BY rowid LIMIT 1 OFFSET ?"
_MERGE_STEP = "INSERT INTO notifications_fts (notifications_fts, rank) VALUES ('merge', 16)"
_MERGE_ALL = "INSERT INTO notifications_fts (notifications_fts) VALUES ('optimize')"
LARGE_CATCH_UP = 10_000  # rows: far above a write batch (db.MAX_BATCH requests)
_LAST_ROWID = 2**63 - 1
_NORMAL = 1  # PRAGMA synchronous: OFF 0, NORMAL 1, FULL 2, EXTRA 3


def index_pending(conn: apsw.Connection, large: int = LARGE_CATCH_UP) -> int:
    """Index the noted rows (one statement, so one new segment for the whole batch); `large`
    rows or more are a catch-up, merged as they are indexed. Returns how many were indexed."""
    if _nth_pending(conn, large - 1) is not None:
        return _catch_up(conn, large)
    return _index_up_to(conn, None)


def _catch_up(conn: apsw.Connection, first_chunk: int) -> int:
    """Index the noted rows in chunks, each as large as all before it, merging the whole index
    after each (see the module's docstring for why)."""
    indexed, chunk = 0, first_chunk
    while True:
        last = _nth_pending(conn, chunk - 1)
        indexed += _index_up_to(conn, last)
        conn.execute(_MERGE_ALL)
        if last is None:
            return indexed
        chunk = indexed


def _index_up_to(conn: apsw.Connection, last: int | None) -> int:
    """Index the noted rows up to rowid `last` (None: all of them); how many."""
    conn.execute(_INDEX_PENDING, {"last": _LAST_ROWID if last is None else last})
    return conn.changes()  # of the last statement: the DELETE of the noted rows


def _nth_pending(conn: apsw.Connection, offset: int) -> int | None:
    row = conn.execute(_NTH_PENDING, (offset,)).fetchone()
    return None if row is None else int(row[0])


class Merging:
    """Steps of merging between write batches: after a batch that added a segment, and while
    the steps find work; none otherwise, so an idle server takes no write lock. (A step taken
    after every batch, with nothing to merge, right after start-up made another program's
    read-then-write transaction fail at once with SQLITE_BUSY: a browser test, 4 runs in 10.)"""

    def __init__(self) -> None:
        self._due = False  # until rows are indexed (at start too: the writer indexes leftovers)

    def indexed(self, rows: int) -> None:
        if rows:
            self._due = True

    def step(self, conn: apsw.Connection) -> None:
        if self._due:
            self._due = merge_step(conn)


def merge_step(conn: apsw.Connection) -> bool:
    """A bounded step of merging (~16 pages), where a level holds 4 segments or more, in a
    transaction of its own, committed only if it merged something; whether it did. None while
    another program holds the write lock (True: try again after the next batch).

    Its COMMIT does not wait for the disk: a step only rearranges the index, so losing it to a
    power cut leaves the index as it was before, whole (WAL: the frames of a transaction count
    only once all are written), and the next batch's COMMIT syncs the log, the step's frames
    with it. Over 1,500 batches of 32 rows, 413 were followed by a step that merged: a disk
    sync more for 28 % of the batches, which a slow disk (an SD card, a spinning one) feels.
    """
    synchronous = conn.pragma("synchronous")  # cannot change inside a transaction
    conn.pragma("synchronous", min(synchronous, _NORMAL))
    try:
        return _merge_in_transaction(conn)
    finally:
        conn.pragma("synchronous", synchronous)


def _merge_in_transaction(conn: apsw.Connection) -> bool:
    try:
        conn.execute("BEGIN IMMEDIATE")
    except apsw.BusyError:
        return True
    try:
        before = conn.total_changes()
        conn.execute(_MERGE_STEP)
        # FTS5: a merge that found no work adds fewer than 2 to the changes count.
        merged = conn.total_changes() - before >= 2
        conn.execute("COMMIT" if merged else "ROLLBACK")
        return merged
    except BaseException:
        if not conn.get_autocommit():
            conn.execute("ROLLBACK")
        raise
