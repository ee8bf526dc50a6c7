"""SQLite through APSW: connection set-up, one writer thread with group commit, and reads.

Why a single writer thread fed by a queue (after datasette's `Database`): SQLite allows one
writer at a time, and an fsync costs ~200 µs here. The writer drains everything that queued up
while it was busy and commits it in one transaction, so under load many requests share one fsync
(group commit) while each is answered only after its own commit. Handing work across threads
costs more than a small insert, so the hand-back is one `call_soon_threadsafe` per batch, not per
request. Reads are short, index-backed statements run on the event loop's own connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import apsw

from pnotify import migrate

log = logging.getLogger(__name__)

T = TypeVar("T")
MAX_BATCH = 512


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
        conn.set_busy_timeout(5_000)
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
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = connect(path, synchronous)
    migrate.migrate(conn)
    return conn


@dataclass
class WriteContext:
    """What a write function sees: the connection and a source of change cursors."""

    conn: apsw.Connection
    last_cursor: int
    events: list[Any] = field(default_factory=list)

    def next_cursor(self) -> int:
        self.last_cursor += 1
        return self.last_cursor


@dataclass
class _Job:
    fn: Callable[[WriteContext], Any]
    future: asyncio.Future[Any]


class Writer:
    """One thread, one connection, group commit. `await writer.run(fn)` returns after COMMIT."""

    def __init__(
        self, path: Path, synchronous: str, on_commit: Callable[[list[Any]], None] | None = None
    ) -> None:
        self._path = path
        self._synchronous = synchronous
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="pnotify-writer", daemon=True)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._on_commit = on_commit
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        self.batches = 0
        self.jobs_done = 0
        self.pending = 0
        self.last_commit_seconds = 0.0

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._thread.start()
        self._ready.wait()
        if self._startup_error is not None:
            raise self._startup_error

    async def run(self, fn: Callable[[WriteContext], T]) -> T:
        assert self._loop is not None, "Writer.start() was not called"
        future: asyncio.Future[T] = self._loop.create_future()
        self.pending += 1
        self._jobs.put(_Job(fn, future))
        return await future

    async def close(self) -> None:
        """Commit what is queued, then stop the thread and close its connection."""
        if not self._thread.is_alive():
            return
        self._jobs.put(None)
        await asyncio.to_thread(self._thread.join)

    def _run(self) -> None:
        try:
            conn = connect(self._path, self._synchronous)
        except BaseException as error:  # reported to start(), which re-raises on the loop
            self._startup_error = error
            self._ready.set()
            return
        self._ready.set()
        try:
            stopping = False
            while not stopping:
                first = self._jobs.get()
                if first is None:
                    break
                batch = [first]
                while len(batch) < MAX_BATCH:
                    try:
                        job = self._jobs.get_nowait()
                    except queue.Empty:
                        break
                    if job is None:
                        stopping = True
                        break
                    batch.append(job)
                self._commit_batch(conn, batch)
        finally:
            with contextlib.suppress(apsw.Error):
                conn.pragma("wal_checkpoint", "TRUNCATE")
            conn.close()

    def _commit_batch(self, conn: apsw.Connection, batch: list[_Job]) -> None:
        started = time.perf_counter()
        outcomes: list[tuple[_Job, bool, Any]] = []
        context = WriteContext(conn, 0)
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                row = conn.execute(
                    "SELECT value FROM server_state WHERE key = 'change_cursor'"
                ).fetchone()
                context.last_cursor = int(row[0]) if row else 0
                first_cursor = context.last_cursor
                outcomes.extend(self._run_job(conn, context, job) for job in batch)
                if context.last_cursor != first_cursor:
                    conn.execute(
                        "UPDATE server_state SET value = ? WHERE key = 'change_cursor'",
                        (context.last_cursor,),
                    )
                conn.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(apsw.Error):
                    conn.execute("ROLLBACK")
                raise
        except Exception as error:
            log.exception("write batch of %d failed", len(batch))
            context.events.clear()
            outcomes = [(job, False, error) for job in batch]
        self.last_commit_seconds = time.perf_counter() - started
        self.batches += 1
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._resolve, outcomes, context.events)

    @staticmethod
    def _run_job(conn: apsw.Connection, context: WriteContext, job: _Job) -> tuple[_Job, bool, Any]:
        # A savepoint per job: one request's failure (say a constraint) must not undo the
        # others that share its transaction.
        events_before = len(context.events)
        cursor_before = context.last_cursor
        try:
            with conn:
                result = job.fn(context)
        except Exception as error:
            del context.events[events_before:]
            context.last_cursor = cursor_before
            return job, False, error
        return job, True, result

    def _resolve(self, outcomes: list[tuple[_Job, bool, Any]], events: list[Any]) -> None:
        # Publish committed changes first, in cursor order, then wake the requests.
        if events and self._on_commit is not None:
            try:
                self._on_commit(events)
            except Exception:
                log.exception("publishing committed changes failed")
        for job, ok, value in outcomes:
            self.pending -= 1
            self.jobs_done += 1
            if job.future.done():  # the request was cancelled (client went away)
                continue
            if ok:
                job.future.set_result(value)
            else:
                job.future.set_exception(value)
