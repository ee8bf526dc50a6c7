"""Bringing the full-text index up to date with the rows written in this transaction.

Inserts only note their rowid (see sql/0006_search_batched.sql for why); whoever commits
notifications calls `index_pending` first, in the same transaction: the writer before each
batch's COMMIT, and once at start-up for rows another program may have left pending. A search
therefore never sees a committed notification missing from the index.
"""

from __future__ import annotations

import apsw

_INDEX_PENDING = """
INSERT INTO notifications_fts (rowid, title, message, source)
SELECT n.rowid, n.title, n.message, n.source
FROM notifications_fts_pending AS p JOIN notifications AS n ON n.rowid = p.rowid;
DELETE FROM notifications_fts_pending;
"""


def index_pending(conn: apsw.Connection) -> None:
    """Index the noted rows (one statement, so one new segment for the whole batch)."""
    conn.execute(_INDEX_PENDING)
