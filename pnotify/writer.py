"""The group-commit writer: one connection, a batch of jobs per transaction (db.py opens it).

Why the writer is shaped this way (measured on these 2-core machines): SQLite takes one writer
at a time and an fsync costs ~0.4 ms, so requests that arrive together share one transaction
(group commit) and each is answered only after its own COMMIT. The jobs run on the event
loop's thread, each all-or-nothing (write_context.py): a dedicated writer thread was tried first
and spent ~180 µs per row waiting for the GIL between APSW calls while the loop was busy. What
goes to a single helper thread is SQLite work that runs long in few calls, without the GIL:
`before_commit`, then a batch's new rows and COMMIT (fsync), one call for both when the rows
are for one table (write_context.py), while the loop builds the batch's answers (`run`'s
`then`; else the loop, the bottleneck, waited idle ~30 % of a batch's time under `make
bench`'s POST load). Each call from the helper into SQLite ends with a wait for the GIL the
loop holds: with the rows and COMMIT as one call, and no read of the cursors in a batch that
only adds rows, POST ran at 26.4 % of hello-world's rate against 23.2 % (6 interleaved
rounds; 138 µs of CPU a request against 150). Also there: BEGIN IMMEDIATE when another
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
the noise, for much more code. That was before HELPER_SWITCH_SECONDS, which cut the helper's
waits for the GIL; the loop, though, is now ~87 % busy under that load (it was ~80 %), so
running ahead could win back at most what it still idles.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, overload

import apsw

from pnotify import db
from pnotify.changes import Change
from pnotify.checkpoints import Checkpointer
from pnotify.write_context import BatchContext, WriteContext

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")
# ~25 µs a row: a full batch holds the loop for a few milliseconds at most.
MAX_BATCH = 128
# While the helper thread has a batch, the loop gives the GIL up within 10 µs of the helper
# asking for it, not the usual 200 µs (serve.py). The helper asks at waking and after each of
# its statements, and waited 0.5 ms (median) for its first turn alone; with 10 µs, 0.15-0.2.
# POST at 32 connections, 3 interleaved triples of 2 runs: ~8,500/s against ~7,450 (200 µs
# throughout) and ~7,950 (10 µs throughout). Only while the helper works: 10 µs throughout
# made SSE fan-out's p99 1-2 ms worse in 2 of 3 interleaved rounds (likely the search
# indexer's thread, woken by each COMMIT, taking GIL turns as the events went out); switched
# this way, fan-out was as before. The helper's GIL waits still take ~120 µs each on these
# machines: a waiting thread's timed wait ends late by the kernel's 50 µs timer slack, then it
# is woken again (measured against a spinning thread). A 1 µs slack for the helper
# (prctl PR_SET_TIMERSLACK) cut its start from ~150 µs to ~95, and a batch from ~1.45-1.8 ms
# to ~1.3-1.35, but it took the GIL from the loop sooner and more often: in 6 interleaved
# rounds of POST, 23.1 % of hello's rate against 23.9 %, 165 µs of CPU a request against 157,
# and a p99 of 11-42 ms against 7-8.
HELPER_SWITCH_SECONDS = 0.000_01


@dataclass
class _Job:
    fn: Callable[[WriteContext], Any]
    future: asyncio.Future[Any]
    then: Callable[[Any], Any] | None = None


Outcome = tuple[_Job, bool, Any]


def _then(outcome: Outcome) -> Outcome:
    job, ok, value = outcome
    if not ok or job.then is None:
        return outcome
    try:
        return job, True, job.then(value)
    except Exception as error:
        return job, False, error


class Writer:
    """One connection, group commit. `await writer.run(fn)` returns after COMMIT.

    A batch goes from step to step in callbacks on the loop (`_in_helper`), not in a task that
    awaits the helper thread: a task resumes one loop iteration after the callback that
    completes what it awaits, and under load an iteration is the answers and requests of a
    whole batch. A batch's cycle took 2.1-2.2 ms against 2.4-2.6 (`make bench`'s POST load, 5
    interleaved pairs of runs), ~16 rows a batch either way."""

    def __init__(
        self,
        path: Path,
        synchronous: str,
        on_commit: Callable[[list[Change]], None] | None = None,
        observe_commit: Callable[[float], None] | None = None,
        before_commit: Callable[[apsw.Connection, bool], object] | None = None,
        after_commit: Callable[[], None] | None = None,
        prepare: Callable[[apsw.Connection], None] | None = None,
    ) -> None:
        """`before_commit(conn, used)` runs in every batch's transaction in the helper thread,
        after the jobs and before the batch's new rows and COMMIT, and once at start (in a
        transaction of its own); `used` says whether a job used the connection, else the batch
        only added rows (`WriteContext.insert`: a POST's job); `after_commit` runs right
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
        self._conn: apsw.Connection | None = None
        self._blocking = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pnotify-commit")
        self._checkpointer = Checkpointer()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopped: asyncio.Future[None] | None = None  # done once nothing more will run
        self._batch: list[_Job] = []  # in the works: from BEGIN until answered
        self._batch_started = 0.0
        self._next_batch_due = False  # a call of `_next_batch` is scheduled
        self._closing = False
        self.disk_full = False

    @property
    def pending(self) -> int:
        return len(self._pending)

    @property
    def running(self) -> bool:
        return self._stopped is not None and not self._stopped.done()

    def start(self) -> None:
        self._conn = db.connect(self._path, self._synchronous)
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
        self._checkpointer.take_over(self._conn, lambda: db.connect(self._path, self._synchronous))
        if self._before_commit is not None:
            with self._conn:
                self._before_commit(self._conn, True)
        # BEGIN is tried inline without waiting; only a lock held elsewhere waits, in a thread.
        self._conn.set_busy_timeout(0)
        self._loop = asyncio.get_running_loop()
        self._stopped = self._loop.create_future()

    @overload
    def run(self, fn: Callable[[WriteContext], T]) -> asyncio.Future[T]: ...
    @overload
    def run(self, fn: Callable[[WriteContext], R], then: Callable[[R], T]) -> asyncio.Future[T]: ...
    def run(
        self, fn: Callable[[WriteContext], Any], then: Callable[[Any], Any] | None = None
    ) -> asyncio.Future[Any]:
        """To await: `fn`'s result, after COMMIT; or `then(result)`: made on the loop while the
        batch commits, so `then` must not use the connection (an answer to build, say). Should
        it raise, so does the await, but `fn`'s writes commit with the batch. The future itself,
        not a coroutine awaiting it: one frame fewer for every write to suspend and resume."""
        if self._closing or not self.running or self._loop is None:
            raise RuntimeError("the writer is not running")
        future: asyncio.Future[Any] = self._loop.create_future()
        self._pending.append(_Job(fn, future, then))
        self._schedule_next_batch()
        return future

    async def close(self) -> None:
        """Commit what is queued, then checkpoint and close the connection."""
        if self._stopped is None:
            return
        self._closing = True
        self._schedule_next_batch()
        await self._stopped
        self._stopped = None
        conn, self._conn = self._conn, None
        assert conn is not None
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._blocking, self._checkpointer.close)
        await loop.run_in_executor(self._blocking, db.checkpoint_and_close, conn)
        self._blocking.shutdown(wait=True)

    def _schedule_next_batch(self) -> None:
        # Soon, not now: the jobs queued until then share the batch.
        if not self._batch and not self._next_batch_due and self._loop is not None:
            self._next_batch_due = True
            self._loop.call_soon(self._on_loop, self._next_batch)

    def _in_helper(self, work: Callable[[], T], then: Callable[[Future[T]], None]) -> None:
        """Run `work` in the helper thread, then `then` with its outcome on the loop."""
        loop = self._loop
        assert loop is not None
        usual_switch = sys.getswitchinterval()
        sys.setswitchinterval(HELPER_SWITCH_SECONDS)

        def back(done: Future[T]) -> None:
            sys.setswitchinterval(usual_switch)
            self._on_loop(then, done)

        done = self._blocking.submit(work)
        done.add_done_callback(lambda done: loop.call_soon_threadsafe(back, done))

    def _on_loop(self, step: Callable[..., None], *args: Any) -> None:
        """A step of a batch. A step that raises is a bug: the writer stops, and every job
        waiting fails, rather than wait forever."""
        try:
            step(*args)
        except Exception:
            log.exception("the writer stopped")
            stranded, self._batch, self._pending = self._batch + self._pending, [], []
            for job in stranded:
                if not job.future.done():
                    job.future.set_exception(RuntimeError("the writer stopped"))
            if self._stopped is not None and not self._stopped.done():
                self._stopped.set_result(None)

    def _next_batch(self) -> None:
        self._next_batch_due = False
        if self._batch:
            return
        if not self._pending:
            if self._closing and self._stopped is not None and not self._stopped.done():
                self._stopped.set_result(None)
            return
        self._batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
        self._batch_started = time.perf_counter()
        conn = self._conn
        assert conn is not None
        try:
            first_cursor = db.begin_write(conn)
        except apsw.BusyError:  # another process writes: wait for its lock in the thread
            self._in_helper(lambda: db.begin_write_waiting(conn), self._begun)
            return
        except Exception as error:
            self._batch_failed(error)
            return
        self._run_jobs(first_cursor)

    def _begun(self, done: Future[int]) -> None:
        try:
            first_cursor = done.result()
        except Exception as error:
            self._batch_failed(error)
            return
        self._run_jobs(first_cursor)

    def _run_jobs(self, first_cursor: int) -> None:
        """The batch's jobs on the loop; then its rows and COMMIT in the helper thread, while
        the loop builds the answers."""
        conn = self._conn
        assert conn is not None
        try:
            context = BatchContext(conn, first_cursor)
            outcomes = [
                (job, *context.run(number, job.fn)) for number, job in enumerate(self._batch)
            ]
            if context.last_cursor != first_cursor:
                conn.execute(
                    "UPDATE server_state SET value = ? WHERE key = 'change_cursor'",
                    (context.last_cursor,),
                )
            context.encode_waiting()  # Python work, so here: the helper needs no GIL
        except Exception as error:
            self._rollback()
            self._batch_failed(error)
            return
        # `_finished` runs in a later callback: after the answers, made here meanwhile.
        self._in_helper(
            lambda: self._finish(conn, context),
            lambda done: self._finished(done, context, outcomes),
        )
        outcomes[:] = [_then(outcome) for outcome in outcomes]

    def _finish(self, conn: apsw.Connection, context: BatchContext) -> None:
        if self._before_commit is not None:
            self._before_commit(conn, context.used_connection)
        context.commit()  # new rows, written together, and COMMIT
        if self._after_commit is not None:
            self._after_commit()

    def _finished(self, done: Future[None], context: BatchContext, outcomes: list[Outcome]) -> None:
        try:
            done.result()
        except Exception as error:
            self._rollback()
            self._batch_failed(error)
            return
        for number, failure in context.failed.items():
            outcomes[number] = (self._batch[number], False, failure)
        self._batch_done(outcomes, context.events)

    def _rollback(self) -> None:
        conn = self._conn
        if conn is not None and not conn.get_autocommit():
            with contextlib.suppress(apsw.Error):
                conn.execute("ROLLBACK")

    def _batch_failed(self, error: Exception) -> None:
        if isinstance(error, apsw.FullError):
            log.warning("write batch of %d failed: the disk is full", len(self._batch))
        else:
            log.error("write batch of %d failed", len(self._batch), exc_info=error)
        self._batch_done([(job, False, error) for job in self._batch], [])

    def _batch_done(self, outcomes: list[Outcome], events: list[Change]) -> None:
        if self._observe_commit is not None:
            self._observe_commit(time.perf_counter() - self._batch_started)
        self._note_disk_state(outcomes)
        self._resolve(outcomes, events)
        if self._checkpointer.copying_due:
            self._checkpointer.start_copying()
        if self._conn is not None and self._checkpointer.due:
            # The answers go out meanwhile; the next batch's BEGIN waits for it.
            conn = self._conn
            self._in_helper(lambda: self._checkpointer.checkpoint(conn), self._checkpointed)
            return
        self._batch = []
        self._next_batch()  # at once: its jobs queued while this batch committed

    def _checkpointed(self, done: Future[None]) -> None:
        done.result()
        self._batch = []
        self._next_batch()

    def _note_disk_state(self, outcomes: list[Outcome]) -> None:
        """Full while writes fail with SQLITE_FULL; clear again after any write commits."""
        if any(not ok and isinstance(value, apsw.FullError) for _, ok, value in outcomes):
            if not self.disk_full:
                log.error("the disk is full: writes fail until there is room again")
            self.disk_full = True
        elif self.disk_full and any(ok for _, ok, _ in outcomes):
            log.warning("the disk has room again: writes succeed")
            self.disk_full = False

    def _resolve(self, outcomes: list[Outcome], events: list[Change]) -> None:
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
