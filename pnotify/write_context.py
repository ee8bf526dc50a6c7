"""What a write job sees (`WriteContext`), and how the writer runs a batch's jobs in its one
transaction (`BatchContext`): each job in a savepoint of its own, and new rows written for
many jobs at once.

Why the rows wait: in the POST load a job is one INSERT of a new notification, ~55 µs of
SQLite work (six indexes, three triggers) and a ~9 µs savepoint, on the event loop's thread,
which is the server's bottleneck. A job that only inserts rows (`ctx.insert`) does not use the
connection, so it needs no savepoint, and its rows wait: at the end of the batch one statement
per table (`INSERT … SELECT … FROM json_each(?)`) writes them all, in the writer's helper
thread, where SQLite runs without holding the GIL (measured: ~38 µs a row in all, against ~55
one by one).

What keeps every job all-or-nothing, and every read true:
- A job's rows wait only while it has not used the connection (`ctx.conn`). When it does, the
  waiting rows of earlier jobs are written first (a job reads what earlier jobs wrote), its
  savepoint starts, and its own waiting rows go in inside it; its later rows go in at once.
- So a job whose rows still wait when it ends did nothing else. If the batch's rows cannot be
  written together, they are written again job by job, each job in a savepoint and each row
  by its own statement (exactly as without waiting), and a job whose rows fail fails alone:
  its changes are dropped and its cursors stay unused (a gap, which the feed allows).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import apsw

from pnotify.changes import Change

Row = tuple[Any, ...]


class BulkInsert:
    """An INSERT of `columns` into `table` (constants of this package, never user text): one
    row by parameters (`one`), or any number as a JSON array of arrays (`many`)."""

    def __init__(self, table: str, columns: Sequence[str]) -> None:
        names = ", ".join(columns)
        marks = ", ".join("?" * len(columns))
        self.one = f"INSERT INTO {table} ({names}) VALUES ({marks})"  # noqa: S608 (constants)
        values = ", ".join(f"value ->> {index}" for index in range(len(columns)))
        self.many = f"INSERT INTO {table} ({names}) SELECT {values} FROM json_each(?)"  # noqa: S608 (constants)
        self.many_then_commit = f"{self.many}; COMMIT"  # BatchContext.commit


class WriteContext:
    """The connection, a source of change cursors, and the changes made (published after
    COMMIT). Used as is, every statement runs at once; the writer uses `BatchContext`."""

    def __init__(self, conn: apsw.Connection, last_cursor: int) -> None:
        self._conn = conn
        self.last_cursor = last_cursor
        self.events: list[Change] = []

    @property
    def conn(self) -> apsw.Connection:
        return self._conn

    def next_cursor(self) -> int:
        self.last_cursor += 1
        return self.last_cursor

    def insert(self, into: BulkInsert, row: Row) -> None:
        """Insert a row: now, or (`BatchContext`) with other jobs' rows, before COMMIT."""
        self._conn.execute(into.one, row)


@dataclass
class _WaitingJob:
    number: int
    rows: list[tuple[BulkInsert, Row]]
    changes: list[Change]


class BatchContext(WriteContext):
    """The writer's context for one batch: `run` each job in turn, then `encode_waiting` and
    `commit` (it may be called from another thread, the loop not touching the batch
    meanwhile), and `failed` says which jobs' rows could not be written."""

    def __init__(self, conn: apsw.Connection, last_cursor: int) -> None:
        super().__init__(conn, last_cursor)
        self.failed: dict[int, Exception] = {}
        self._in_savepoint = False
        self._own: list[tuple[BulkInsert, Row]] = []  # the running job's waiting rows
        self._waiting: list[_WaitingJob] = []  # ended jobs', to write together
        self._encoded: list[tuple[BulkInsert, str]] | None = None
        # Whether a job used the connection: else the batch only adds rows (`insert`).
        self.used_connection = False

    @property
    def conn(self) -> apsw.Connection:
        if not self._in_savepoint:
            self.used_connection = True
            self.write_waiting()  # earlier jobs' rows: outside this job's savepoint
            self._conn.execute("SAVEPOINT job")
            self._in_savepoint = True
            own, self._own = self._own, []
            for into, row in own:  # inside the savepoint: a failure is this job's
                self._conn.execute(into.one, row)
        return self._conn

    def insert(self, into: BulkInsert, row: Row) -> None:
        if self._in_savepoint:
            self._conn.execute(into.one, row)
        else:
            self._own.append((into, row))

    def run(self, number: int, job: Callable[[WriteContext], Any]) -> tuple[bool, Any]:
        """Run job `number` of the batch: (True, its result) or (False, what it raised)."""
        events_before, cursor_before = len(self.events), self.last_cursor
        try:
            result = job(self)
        except Exception as error:
            if self._conn.get_autocommit():
                raise  # SQLite ended the batch's transaction (a full disk): the batch fails
            self._undo(events_before, cursor_before)  # if this fails, so does the batch
            return False, error
        if self._in_savepoint:
            self._in_savepoint = False
            self._conn.execute("RELEASE job")
        elif self._own:
            self._waiting.append(_WaitingJob(number, self._own, self.events[events_before:]))
            self._own = []
        return True, result

    def _undo(self, events_before: int, cursor_before: int) -> None:
        self._own = []
        del self.events[events_before:]
        self.last_cursor = cursor_before  # no gap: the next job takes its cursors
        if self._in_savepoint:
            self._in_savepoint = False
            self._conn.execute("ROLLBACK TO job")
            self._conn.execute("RELEASE job")

    def write_waiting(self) -> None:
        """Write the ended jobs' waiting rows: a statement per table, else job by job."""
        jobs, self._waiting = self._waiting, []
        tables, self._encoded = self._encoded, None
        if not jobs:
            return
        try:
            if tables is None:
                tables = _encode(jobs)
            if len(tables) == 1:
                self._conn.execute(tables[0][0].many, (tables[0][1],))
            else:
                with self._conn:  # a savepoint: all tables' rows, or none to write again
                    for into, rows in tables:
                        self._conn.execute(into.many, (rows,))
        except Exception:
            if self._conn.get_autocommit():
                raise  # SQLite ended the transaction: the whole batch fails
            for job in jobs:
                self._write_alone(job)

    def encode_waiting(self) -> None:
        """Encode the waiting rows now (Python work, so on the loop's thread), for a `commit`
        in another thread that then needs the GIL only between statements."""
        try:
            self._encoded = _encode(self._waiting)
        except Exception:
            self._encoded = None  # write_waiting will meet it again, and write job by job

    def commit(self) -> None:
        """Write the ended jobs' waiting rows, then COMMIT. Rows for one table and COMMIT go
        as one call into SQLite: the helper thread running it then waits for the GIL the loop
        holds once, not again before each statement from Python."""
        tables = self._encoded
        if not self._waiting or tables is None or len(tables) != 1:
            self.write_waiting()
            self._conn.execute("COMMIT")
            return
        ((into, rows),) = tables
        jobs, self._waiting, self._encoded = self._waiting, [], None
        try:
            self._conn.execute(into.many_then_commit, (rows,))
            return
        except Exception:
            # Which of the two failed: a statement that fails is undone, and SQLite then counts
            # its changes as 0; the rows, had they gone in, would count at least one.
            if self._conn.get_autocommit() or self._conn.changes() != 0:
                raise  # SQLite ended the transaction, or the rows went in and COMMIT failed
        for job in jobs:  # the rows failed alone: they go in job by job
            self._write_alone(job)
        self._conn.execute("COMMIT")

    def _write_alone(self, job: _WaitingJob) -> None:
        try:
            with self._conn:  # a savepoint: the job's rows go in together or not at all
                for into, row in job.rows:
                    self._conn.execute(into.one, row)
        except Exception as error:
            if self._conn.get_autocommit():
                raise
            self.failed[job.number] = error
            dropped = {id(change) for change in job.changes}
            self.events[:] = [change for change in self.events if id(change) not in dropped]


def _encode(jobs: list[_WaitingJob]) -> list[tuple[BulkInsert, str]]:
    """The jobs' rows as one JSON array per table, in order."""
    pairs = [pair for job in jobs for pair in job.rows]
    return [
        (into, json.dumps([row for _, row in group]))
        for into, group in itertools.groupby(pairs, key=lambda pair: pair[0])
    ]
