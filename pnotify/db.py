"""SQLite through APSW: connection set-up and the group-commit writer (reads: read_limit.py).

Why the writer is shaped this way (measured on these 2-core machines): SQLite takes one writer
at a time and an fsync costs ~0.4 ms, so requests that arrive together share one transaction
(group commit) and each is answered only after its own COMMIT. The jobs run on the event
loop's thread, each all-or-nothing (write_context.py): a dedicated writer thread was tried first
and spent ~180 µs per row waiting for the GIL between APSW calls while the loop was busy. What
goes to a single helper thread is SQLite work that runs long in few calls, without the GIL: a
batch's new rows (one statement, write_context.py), `before_commit` and COMMIT (fsync), while
the loop builds the batch's answers (`run`'s `then`; else the loop, the bottleneck, waited
idle ~30 % of a batch's time under `make bench`'s POST load); BEGIN IMMEDIATE when another
process holds the lock; and after a batch is answered, before the next, the end of a WAL
checkpoint (its bulk is copied beside the batches: checkpoints.py). The search index is kept
by a thread of its own (search_indexer.py). The loop does not touch the connection while the
helper thread has it.

Tried and not kept: one batch running ahead (its insert-only jobs run on the loop while the
batch before commits, with the cursors that follow it; the helper BEGINs it, checks the cursor,
and commits it without waiting for the loop). The helper then became the bottleneck, waiting
for the GIL at each of its APSW calls (its BEGIN alone: p50 0.39 ms, p90 0.96), and batches
shrank from 16.7 rows to 11.7; letting a batch run ahead only once 12 jobs wait kept them at
16, and gained 4 % (4 interleaved pairs of POST runs: median 7,559/s against 7,239), within
the noise, for much more code.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, overload

import apsw

from pnotify import migrate
from pnotify.changes import Change
from pnotify.checkpoints import Checkpointer
from pnotify.write_context import BatchContext, WriteContext

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")
# ~25 µs a row: a full batch holds the loop for a few milliseconds at most.
MAX_BATCH = 128
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


@dataclass
class _Job:
    fn: Callable[[WriteContext], Any]
    future: asyncio.Future[Any]
    then: Callable[[Any], Any] | None = None


def _then(outcome: tuple[_Job, bool, Any]) -> tuple[_Job, bool, Any]:
    job, ok, value = outcome
    if not ok or job.then is None:
        return outcome
    try:
        return job, True, job.then(value)
    except Exception as error:
        return job, False, error


class Writer:
    """One connection, group commit. `await writer.run(fn)` returns after COMMIT."""

    def __init__(
        self,
        path: Path,
        synchronous: str,
        on_commit: Callable[[list[Change]], None] | None = None,
        observe_commit: Callable[[float], None] | None = None,
        before_commit: Callable[[apsw.Connection], object] | None = None,
        after_commit: Callable[[], None] | None = None,
        prepare: Callable[[apsw.Connection], None] | None = None,
    ) -> None:
        """`before_commit` runs in every batch's transaction just before COMMIT, in the helper
        thread, and once at start (in a transaction of its own); `after_commit` runs right
        after each COMMIT, in the helper thread (it must be quick: it tells another thread);
        `on_commit` gets each batch's committed changes; `prepare` gets the connection once,
        when it is opened."""
        self._path = path
        self._before_commit = before_commit
        self._after_commit = after_commit
        self._prepare = prepare
        self._observe_commit = observe_commit
        self._synchronous = synchronous
        self._on_commit = on_commit
        self._pending: list[_Job] = []
        self._wakeup = asyncio.Event()
        self._conn: apsw.Connection | None = None
        self._blocking = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pnotify-commit")
        self._checkpointer = Checkpointer()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.disk_full = False

    @property
    def pending(self) -> int:
        return len(self._pending)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        self._conn = connect(self._path, self._synchronous)
        # A batch's INSERT of many rows keeps a statement journal (the pages it changed, to undo
        # it alone should it fail). Past 64 KiB SQLite moves it to a temporary file, and a
        # batch of 17 rows got past: a file made, written and closed per batch. In memory, a
        # batch of 17 rows inserted and committed took 18.6 µs a row against 25.1 (medians of
        # 8 runs of 1,500 batches). Every statement of the writer changes a bounded number of
        # rows (a batch is at most MAX_BATCH jobs), so the journal stays small.
        self._conn.pragma("temp_store", "memory")
        if self._prepare is not None:
            self._prepare(self._conn)
        # No checkpoint inside a COMMIT; the bulk of each is copied on a connection of its own.
        self._checkpointer.take_over(self._conn, lambda: connect(self._path, self._synchronous))
        if self._before_commit is not None:
            with self._conn:
                self._before_commit(self._conn)
        # BEGIN is tried inline without waiting; only a lock held elsewhere waits, in a thread.
        self._conn.set_busy_timeout(0)
        self._task = asyncio.get_running_loop().create_task(
            self._commit_loop(), name="pnotify-writer"
        )

    @overload
    async def run(self, fn: Callable[[WriteContext], T]) -> T: ...
    @overload
    async def run(self, fn: Callable[[WriteContext], R], then: Callable[[R], T]) -> T: ...
    async def run(
        self, fn: Callable[[WriteContext], Any], then: Callable[[Any], Any] | None = None
    ) -> Any:
        """`fn`'s result, after COMMIT; or `then(result)`: made on the loop while the batch
        commits, so `then` must not use the connection (an answer to build, say). Should it
        raise, `run` raises that, but `fn`'s writes commit with the batch."""
        if self._closing or self._task is None:
            raise RuntimeError("the writer is not running")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending.append(_Job(fn, future, then))
        self._wakeup.set()
        return await future

    async def close(self) -> None:
        """Commit what is queued, then checkpoint and close the connection."""
        if self._task is None:
            return
        self._closing = True
        self._wakeup.set()
        await self._task
        self._task = None
        conn, self._conn = self._conn, None
        assert conn is not None
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._blocking, self._checkpointer.close)
        await loop.run_in_executor(self._blocking, _checkpoint_and_close, conn)
        self._blocking.shutdown(wait=True)

    async def _commit_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._pending:
                if self._closing:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
            started = time.perf_counter()
            outcomes, events = await self._commit_batch(loop, batch)
            seconds = time.perf_counter() - started
            if self._observe_commit is not None:
                self._observe_commit(seconds)
            self._note_disk_state(outcomes)
            self._resolve(outcomes, events)
            if self._checkpointer.copying_due:
                self._checkpointer.start_copying()
            if self._conn is not None and self._checkpointer.due:
                # The answers go out meanwhile; the next batch's BEGIN waits for it.
                await loop.run_in_executor(
                    self._blocking, self._checkpointer.checkpoint, self._conn
                )

    def _note_disk_state(self, outcomes: list[tuple[_Job, bool, Any]]) -> None:
        """Full while writes fail with SQLITE_FULL; clear again after any write commits."""
        if any(not ok and isinstance(value, apsw.FullError) for _, ok, value in outcomes):
            if not self.disk_full:
                log.error("the disk is full: writes fail until there is room again")
            self.disk_full = True
        elif self.disk_full and any(ok for _, ok, _ in outcomes):
            log.warning("the disk has room again: writes succeed")
            self.disk_full = False

    async def _commit_batch(
        self, loop: asyncio.AbstractEventLoop, batch: list[_Job]
    ) -> tuple[list[tuple[_Job, bool, Any]], list[Change]]:
        conn = self._conn
        assert conn is not None
        try:
            first_cursor = await self._begin(loop, conn)
            try:
                context = BatchContext(conn, first_cursor)
                outcomes = [(job, *context.run(number, job.fn)) for number, job in enumerate(batch)]
                if context.last_cursor != first_cursor:
                    conn.execute(
                        "UPDATE server_state SET value = ? WHERE key = 'change_cursor'",
                        (context.last_cursor,),
                    )
                context.encode_waiting()  # Python work, so here: the helper needs no GIL
                finishing = loop.run_in_executor(self._blocking, self._finish, conn, context)
                outcomes = [_then(outcome) for outcome in outcomes]  # meanwhile, on the loop
                await finishing
                for number, error in context.failed.items():
                    outcomes[number] = (batch[number], False, error)
            except BaseException:
                if not conn.get_autocommit():
                    with contextlib.suppress(apsw.Error):
                        conn.execute("ROLLBACK")
                raise
        except Exception as error:
            if isinstance(error, apsw.FullError):
                log.warning("write batch of %d failed: the disk is full", len(batch))
            else:
                log.exception("write batch of %d failed", len(batch))
            return [(job, False, error) for job in batch], []
        return outcomes, context.events

    def _finish(self, conn: apsw.Connection, context: BatchContext) -> None:
        context.write_waiting()  # new rows, written together
        if self._before_commit is not None:
            self._before_commit(conn)
        conn.execute("COMMIT")
        if self._after_commit is not None:
            self._after_commit()

    async def _begin(self, loop: asyncio.AbstractEventLoop, conn: apsw.Connection) -> int:
        """Begin, with the write lock: inline when it is free (the usual case), else waited for
        in a thread. Returns the change cursor."""
        try:
            return _begin_locked(conn)
        except apsw.BusyError:
            return await loop.run_in_executor(self._blocking, _begin_waiting, conn)

    def _resolve(self, outcomes: list[tuple[_Job, bool, Any]], events: list[Change]) -> None:
        # Publish committed changes first, in cursor order, then wake the requests.
        if events and self._on_commit is not None:
            try:
                self._on_commit(events)
            except Exception:
                log.exception("publishing committed changes failed")
        for job, ok, value in outcomes:
            if job.future.done():  # the request was cancelled (client went away)
                continue
            if ok:
                job.future.set_result(value)
            else:
                job.future.set_exception(value)


# BEGIN IMMEDIATE would take the write lock of every attached database as well: the search
# index's too, which its own thread writes (search_indexer.py). A write as the transaction's
# first statement takes this database's lock alone (waiting as BEGIN IMMEDIATE would, with no
# snapshot taken before it), and reads the change cursor.
_LOCK_AND_READ_CURSOR = (
    "UPDATE server_state SET value = value WHERE key = 'change_cursor' RETURNING value"
)


def _begin_locked(conn: apsw.Connection) -> int:
    conn.execute("BEGIN")
    try:
        ((cursor,),) = conn.execute(_LOCK_AND_READ_CURSOR).fetchall()
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return int(cursor)  # type: ignore[arg-type]  # the schema's INTEGER NOT NULL


def _begin_waiting(conn: apsw.Connection) -> int:
    conn.set_busy_timeout(BUSY_TIMEOUT_MS)
    try:
        return _begin_locked(conn)
    finally:
        conn.set_busy_timeout(0)


def _checkpoint_and_close(conn: apsw.Connection) -> None:
    with contextlib.suppress(apsw.Error):
        conn.wal_checkpoint("main", apsw.SQLITE_CHECKPOINT_TRUNCATE)
    conn.close()
