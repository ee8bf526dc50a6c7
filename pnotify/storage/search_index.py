"""The full-text index, in a database file of its own beside the notifications (`index_path`),
and what keeps it right (sql/0008_search_apart.sql says why it is apart).

- Every change to a notification's words notes its rowid in the main database's
  `search_changes`, numbered in order.
- The index file holds the number of the last change it has taken in (`applied`), written in
  the same transaction as the words (`apply_changes`): after a crash it goes on from there.
- The writer removes the changes up to `applied` (`forget_applied`), in its batches.
- A search first waits until the index holds every change its own read can see (`latest`,
  search_indexer.py).
- The file names the database it was built from; a file of another database, or holding
  changes this one has not got (a backup restored under it), is rebuilt from the rows.

Segments are merged a bounded step at a time while no changes wait (`merge_step`): FTS5's own
merging does all of a level at once when 16 segments wait there, which held up the changes
behind it (sql/0007_search_merging.sql).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import apsw

from pnotify import db

SCHEMA_VERSION = 1
# Its rows are not kept: the words only, the rows' own text stays with the notifications.
# `contentless_delete`: a row's words are removed by rowid. No `prefix` indexes: they made
# every insert write each word three times, and a word start of four letters or more is a
# quick range of terms without them.
_SCHEMA = """
CREATE VIRTUAL TABLE notifications_fts USING fts5 (
    title, message, source,
    content = '', contentless_delete = 1,
    tokenize = 'unicode61 remove_diacritics 2'
);
INSERT INTO notifications_fts (notifications_fts, rank) VALUES ('automerge', 0);
INSERT INTO notifications_fts (notifications_fts, rank) VALUES ('usermerge', 4);
INSERT INTO notifications_fts (notifications_fts, rank) VALUES ('crisismerge', 64);
CREATE TABLE search_state (
    key   TEXT PRIMARY KEY,  -- 'applied', 'identity'
    value INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
INSERT INTO search_state (key, value) VALUES ('applied', 0);
PRAGMA user_version = 1;
"""
# In the index's own connection the notifications' database is attached as `data`.
_LATEST_HERE = "SELECT seq FROM sqlite_sequence WHERE name = 'search_changes'"
_LATEST_THERE = "SELECT seq FROM data.sqlite_sequence WHERE name = 'search_changes'"
_STATE = "SELECT key, value FROM search_state"
_SET_STATE = "INSERT OR REPLACE INTO search_state (key, value) VALUES (?, ?)"
_IDENTITY = "SELECT value FROM data.server_state WHERE key = 'search_identity'"
_LAST_OF_CHUNK = """
SELECT max(seq) FROM (
    SELECT seq FROM data.search_changes WHERE seq > :applied ORDER BY seq LIMIT :most
)"""
# First the words of changed and deleted rows go; then every row of the chunk that still
# exists goes in with its words of now (a later change is then taken in again: same result).
_APPLY = """
DELETE FROM notifications_fts WHERE rowid IN (
    SELECT row FROM data.search_changes WHERE seq > :applied AND seq <= :last AND fresh = 0
);
INSERT INTO notifications_fts (rowid, title, message, source)
SELECT n.rowid, n.title, n.message, n.source
FROM (
    SELECT DISTINCT row FROM data.search_changes WHERE seq > :applied AND seq <= :last
) AS c CROSS JOIN data.notifications AS n ON n.rowid = c.row
ORDER BY n.rowid;
"""
_REBUILD = """
INSERT INTO notifications_fts (notifications_fts) VALUES ('delete-all');
INSERT INTO notifications_fts (rowid, title, message, source)
SELECT rowid, title, message, source FROM data.notifications ORDER BY rowid;
"""
_NTH_CHANGE = "SELECT seq FROM search_changes ORDER BY seq LIMIT 1 OFFSET ?"
_FORGET = "DELETE FROM search_changes WHERE seq <= ?"
_FORGET_THERE = "DELETE FROM data.search_changes WHERE seq <= ?"
_MERGE_STEP = "INSERT INTO notifications_fts (notifications_fts, rank) VALUES ('merge', 16)"
_MERGE_ALL = "INSERT INTO notifications_fts (notifications_fts) VALUES ('optimize')"
CHUNK = 5_000  # changes a transaction: a large catch-up commits (and is searchable) in steps
LARGE_CATCH_UP = 10_000  # rows: then the index is merged whole (see `catch_up`)


def index_path(database: Path) -> Path:
    return database.with_name(database.name + "-search")


def remove_index(database: Path) -> None:
    """Remove the index file (and its WAL): the server rebuilds it when it next starts."""
    path = index_path(database)
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        file.unlink(missing_ok=True)


def open_index(database: Path) -> tuple[apsw.Connection, bool]:
    """The index's connection, with `database` attached as `data`, and whether the index must
    be rebuilt from the rows before it can be brought up to date change by change. An index
    file that is not one of this layout (or not SQLite at all) is made again."""
    try:
        conn = _open_current(database)
    except db.DatabaseError:
        remove_index(database)
        conn = _open_current(database)
    conn.execute("ATTACH DATABASE ? AS data", (str(database),))
    state: dict[str, int] = {str(key): int(value) for key, value in conn.execute(_STATE)}
    identity = conn.execute(_IDENTITY).fetchone()
    stale = state.get("identity") != (identity and identity[0])
    ahead = state.get("applied", 0) > _latest(conn, _LATEST_THERE)
    return conn, stale or ahead  # a new file has no identity: stale


def _open_current(database: Path) -> apsw.Connection:
    conn = db.connect(index_path(database), "NORMAL")  # see `merge_step` on syncing
    try:
        if conn.pragma("user_version") != SCHEMA_VERSION:
            conn.close()
            remove_index(database)
            conn = db.connect(index_path(database), "NORMAL")
            with conn:
                conn.execute(_SCHEMA)
    except apsw.Error as error:
        conn.close()
        raise db.DatabaseError(f"the search index: {error}") from None
    return conn


def attach(reader: apsw.Connection, database: Path) -> None:
    """Make the index readable as `search.notifications_fts` on a connection to `database`
    (the file made first if need be: an attached file's tables must be there when the
    connection first reads its schema)."""
    _open_current(database).close()
    reader.execute("ATTACH DATABASE ? AS search", (str(index_path(database)),))


def latest(conn: apsw.Connection) -> int:
    """The number of the last change committed, as this connection to the database sees it."""
    return _latest(conn, _LATEST_HERE)


def _latest(conn: apsw.Connection, query: str) -> int:
    row = conn.execute(query).fetchone()
    return 0 if row is None else int(row[0])


def applied(conn: apsw.Connection) -> int:
    """The last change the index holds (on the index's connection)."""
    row = conn.execute("SELECT value FROM search_state WHERE key = 'applied'").fetchone()
    return 0 if row is None else int(row[0])


# BEGIN IMMEDIATE would take the write lock of the attached notifications' database as well,
# which its writer needs: a write to the index as a transaction's first statement takes the
# index's lock alone, before any snapshot of either file is taken.
_LOCK = "UPDATE search_state SET value = value WHERE key = 'applied' RETURNING value"


@contextlib.contextmanager
def _writing(conn: apsw.Connection) -> Iterator[int]:
    """A transaction that writes the index alone, from its first statement; gives `applied`."""
    conn.execute("BEGIN")
    try:
        ((applied_now,),) = conn.execute(_LOCK).fetchall()
        yield int(applied_now)  # type: ignore[arg-type]  # the schema's INTEGER NOT NULL
    except BaseException:
        if not conn.get_autocommit():
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def rebuild(conn: apsw.Connection) -> int:
    """Index every row anew (one transaction: the rows and the last change of one snapshot),
    then merge the index whole. Returns the last change it holds."""
    with _writing(conn):
        last = _latest(conn, _LATEST_THERE)
        conn.execute(_REBUILD)
        identity = conn.execute(_IDENTITY).fetchone()
        conn.execute(_SET_STATE, ("identity", identity[0] if identity else 0))
        conn.execute(_SET_STATE, ("applied", last))
    conn.execute(_MERGE_ALL)
    return last


def apply_changes(conn: apsw.Connection, most: int = CHUNK) -> tuple[int, int]:
    """Take in up to `most` of the changes after the last the index holds, in one transaction:
    (the last change it holds then, how many were taken in)."""
    with _writing(conn) as after:
        row = conn.execute(_LAST_OF_CHUNK, {"applied": after, "most": most}).fetchone()
        if row is None or row[0] is None:
            return after, 0
        last = int(row[0])
        conn.execute(_APPLY, {"applied": after, "last": last})
        conn.execute(_SET_STATE, ("applied", last))
    return last, last - after


def catch_up(conn: apsw.Connection, took_in: Callable[[int], object] = lambda last: None) -> int:
    """Take in every change the index lacks, a chunk at a time (`took_in(last)` after each,
    or once if there were none: another program may have taken changes in, as the benchmarks
    do, and a search waits for them); a large catch-up (rows another program wrote while the
    server was stopped, say) is merged whole after: left as it is, its big segments would be
    merged again with every few small ones that follow. Returns the last change taken in."""
    taken = 0
    while True:
        last, count = apply_changes(conn)
        if count == 0:
            break
        taken += count
        took_in(last)
    if taken == 0:
        took_in(last)
    if taken >= LARGE_CATCH_UP:
        conn.execute(_MERGE_ALL)
    return last


def bring_up_to_date(database: Path) -> None:
    """Rebuild or catch the index up, and forget the changes it took in, there and then
    (tools that load rows: the benchmarks)."""
    conn, rebuild_due = open_index(database)
    try:
        last = rebuild(conn) if rebuild_due else catch_up(conn)
        conn.execute(_FORGET_THERE, (last,))
    finally:
        conn.close()


def forget_applied(conn: apsw.Connection, applied: int, most: int = 1_000) -> int:
    """Remove up to `most` of the changes the index holds (the writer, in its batch's
    transaction: the rows of a large catch-up go over several batches). Returns the change up
    to which all are gone."""
    row = conn.execute(_NTH_CHANGE, (most - 1,)).fetchone()
    up_to = applied if row is None else min(applied, int(row[0]))
    conn.execute(_FORGET, (up_to,))
    return up_to


def merge_step(conn: apsw.Connection) -> bool:
    """A bounded step of merging (~16 pages), where a level holds 4 segments or more, in a
    transaction of its own, committed only if it merged something; whether it did.

    The index's connection does not wait for the disk at COMMIT (synchronous NORMAL): a power
    cut can undo its last transactions, never tear one (WAL), and `applied` goes with the
    words, so the index takes those changes in again at start."""
    conn.execute("BEGIN")  # the step's first statement, a write, takes the index's lock alone
    try:
        before = conn.total_changes()
        conn.execute(_MERGE_STEP)
        # FTS5: a merge that found no work adds fewer than 2 to the changes count.
        merged = conn.total_changes() - before >= 2
    except BaseException:
        if not conn.get_autocommit():
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT" if merged else "ROLLBACK")
    return merged
