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
ones that follow (~50 ms for one COMMIT after 100k rows, measured).
"""

from __future__ import annotations

import apsw

_INDEX_PENDING = """
INSERT INTO notifications_fts (rowid, title, message, source)
SELECT n.rowid, n.title, n.message, n.source
FROM notifications_fts_pending AS p JOIN notifications AS n ON n.rowid = p.rowid;
DELETE FROM notifications_fts_pending;
"""


_MERGE_STEP = "INSERT INTO notifications_fts (notifications_fts, rank) VALUES ('merge', 16)"
_MERGE_ALL = "INSERT INTO notifications_fts (notifications_fts) VALUES ('optimize')"
LARGE_CATCH_UP = 10_000  # rows: far above a write batch (db.MAX_BATCH requests)


def index_pending(conn: apsw.Connection, large: int = LARGE_CATCH_UP) -> None:
    """Index the noted rows (one statement, so one new segment for the whole batch); after
    `large` rows or more, merge the whole index."""
    conn.execute(_INDEX_PENDING)
    if conn.changes() >= large:  # of the last statement: the DELETE of the noted rows
        conn.execute(_MERGE_ALL)


def merge_step(conn: apsw.Connection) -> None:
    """A bounded step of merging (~16 pages), where a level holds 4 segments or more, in a
    transaction of its own; none while another program holds the write lock (the next batch's
    step will do)."""
    try:
        conn.execute("BEGIN IMMEDIATE")
    except apsw.BusyError:
        return
    try:
        conn.execute(_MERGE_STEP)
        conn.execute("COMMIT")
    except BaseException:
        if not conn.get_autocommit():
            conn.execute("ROLLBACK")
        raise
