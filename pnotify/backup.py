"""Online backup and restore with SQLite's backup API (through APSW), and the lock that tells
whether a server is using a database.

A backup is one backup step over the whole database: it reads a single consistent snapshot
while the server keeps writing (WAL lets readers and the writer go on side by side), so every
notification acknowledged before the backup started is in the copy. The search index's own
file is not copied: it is made from the rows, anew after a restore.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

import apsw

from pnotify import db, migrate
from pnotify.storage import search_index


class BackupError(Exception):
    """A backup or restore cannot be done; the message says why."""


def lock_path(database: Path) -> Path:
    return database.with_name(database.name + ".lock")


@contextlib.contextmanager
def server_lock(database: Path) -> Iterator[None]:
    """Held by a running server for its whole life; restore and a second server check it."""
    try:
        database.parent.mkdir(parents=True, exist_ok=True)
        handle = open(lock_path(database), "a+")  # noqa: SIM115 (held across the yield)
    except OSError as error:
        raise BackupError(f"cannot use {database.parent} ({error.strerror})") from None
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BackupError(
                f"a priority-notify server is using {database}; stop it first"
            ) from None
        yield
    finally:
        handle.close()


def _copy(source: apsw.Connection, target: apsw.Connection) -> None:
    with target.backup("main", source, "main") as step:
        step.step(-1)  # all pages in one step: one snapshot, never restarted by new writes


def _copy_file(source: apsw.Connection, target: apsw.Connection, then: tuple[str, str]) -> None:
    """Copy one database into another, run the pragma `then` on the copy, close both."""
    try:
        _copy(source, target)
        target.pragma(*then)
    finally:
        target.close()
        source.close()


def _check_file(path: Path) -> None:
    # Read-only: a read-write open would switch the file to WAL (db.connect does so) and leave
    # -wal and -shm files beside it.
    conn = db.connect(path, readonly=True)
    try:
        result = conn.execute("PRAGMA integrity_check").fetchall()
        if result != [("ok",)]:
            raise BackupError(f"{path} fails SQLite's integrity check: {result[0][0]}")
        migrate.check(conn, migrate.load_migrations())
    except migrate.MigrationError as error:
        raise BackupError(f"{path} does not match this version: {error}") from None
    finally:
        conn.close()


def backup(database: Path, destination: Path) -> None:
    if not database.exists():
        raise BackupError(f"there is no database at {database}")
    if destination.exists():
        raise BackupError(f"{destination} already exists; choose a new file name")
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(destination.name + ".partial")
    partial.unlink(missing_ok=True)
    # A single self-contained file: no -wal or -shm beside it.
    live = db.connect(database, "NORMAL")
    _copy_file(live, apsw.Connection(str(partial)), ("journal_mode", "delete"))
    _check_file(partial)
    with open(partial, "rb") as handle:
        handle.seek(18)
        if handle.read(2) != b"\x01\x01":  # file format versions 1, 1: a rollback journal
            raise BackupError(f"{partial} was not written as one self-contained file")
        os.fsync(handle.fileno())
    os.replace(partial, destination)


def restore(source_file: Path, database: Path) -> None:
    if not source_file.is_file():
        raise BackupError(f"there is no backup at {source_file}")
    _check_file(source_file)
    with server_lock(database):
        # Read-only, so a backup on read-only media restores and is left as it was.
        source = db.connect(source_file, readonly=True)
        _copy_file(source, db.connect(database, "FULL"), ("wal_checkpoint", "TRUNCATE"))
        # The search index is made from the rows: the server builds it anew when it starts.
        search_index.remove_index(database)
