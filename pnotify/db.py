"""SQLite through APSW: connections opened, begun with the write lock, checkpointed and closed
(the writer: writer.py; reads: read_limit.py)."""

from __future__ import annotations

import contextlib
from pathlib import Path

import apsw

from pnotify import migrate

BUSY_TIMEOUT_MS = 5_000


class DatabaseError(Exception):
    """The database file cannot be used (not SQLite, not writable, …)."""


def connect(path: Path, synchronous: str = "FULL", *, readonly: bool = False) -> apsw.Connection:
    flags = (
        apsw.SQLITE_OPEN_READONLY
        if readonly
        else apsw.SQLITE_OPEN_READWRITE | apsw.SQLITE_OPEN_CREATE
    )
    try:
        conn = apsw.Connection(str(path), flags=flags)
        conn.set_busy_timeout(BUSY_TIMEOUT_MS)
        # Double-quoted strings as identifiers only: a typo becomes an error, not a literal.
        conn.config(apsw.SQLITE_DBCONFIG_DQS_DML, 0)
        conn.config(apsw.SQLITE_DBCONFIG_DQS_DDL, 0)
        if not readonly:
            conn.pragma("journal_mode", "wal")
        conn.pragma("foreign_keys", True)
        conn.pragma("synchronous", synchronous)
        conn.pragma("cache_size", -16_000)
    except apsw.NotADBError:
        raise DatabaseError(f"{path} is not an SQLite database") from None
    except apsw.CantOpenError:
        raise DatabaseError(
            f"cannot open database {path}: check the directory exists and is writable"
        ) from None
    except apsw.ReadOnlyError:
        raise DatabaseError(f"database {path} is read-only: check its permissions") from None
    return conn


def open_and_migrate(path: Path, synchronous: str = "FULL") -> apsw.Connection:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DatabaseError(f"cannot create the directory for {path} ({error.strerror})") from None
    conn = connect(path, synchronous)
    migrate.migrate(conn)
    return conn


# BEGIN IMMEDIATE would take the write lock of every attached database as well: the search
# index's too, which its own thread writes (search_indexer.py). A write as the transaction's
# first statement takes this database's lock alone (waiting as BEGIN IMMEDIATE would, with no
# snapshot taken before it), and reads the change cursor.
_LOCK_AND_READ_CURSOR = (
    "UPDATE server_state SET value = value WHERE key = 'change_cursor' RETURNING value"
)


def begin_write(conn: apsw.Connection) -> int:
    """Begin a transaction with the write lock, without waiting for it (busy timeout 0: raises
    BusyError). Returns the change cursor."""
    conn.execute("BEGIN")
    try:
        ((cursor,),) = conn.execute(_LOCK_AND_READ_CURSOR).fetchall()
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return int(cursor)  # type: ignore[arg-type]  # the schema's INTEGER NOT NULL


def begin_write_waiting(conn: apsw.Connection) -> int:
    """`begin_write`, waiting up to BUSY_TIMEOUT_MS for the lock."""
    conn.set_busy_timeout(BUSY_TIMEOUT_MS)
    try:
        return begin_write(conn)
    finally:
        conn.set_busy_timeout(0)


def checkpoint_and_close(conn: apsw.Connection) -> None:
    with contextlib.suppress(apsw.Error):
        conn.wal_checkpoint("main", apsw.SQLITE_CHECKPOINT_TRUNCATE)
    conn.close()
