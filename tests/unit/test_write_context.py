"""write_context.BatchContext, through the writer: the new rows of a batch's jobs go in by one
statement in the helper thread, reads see them, and each job stays all-or-nothing."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import apsw
import pytest

from pnotify import db
from pnotify.changes import Change
from pnotify.storage import notification_writes as writes
from pnotify.storage import notifications as store
from pnotify.write_context import BulkInsert, WriteContext
from pnotify.writer import Writer
from tests.serverproc import scalar

pytestmark = pytest.mark.anyio

NEW = store.NewNotification("hello", "a message", "low", "cron", None)


class _Failing(Exception):
    pass


@pytest.fixture
def statements() -> Iterator[list[tuple[str, int]]]:
    """Each statement run on connections opened meanwhile, with the thread that ran it."""
    seen: list[tuple[str, int]] = []

    def trace(cursor: apsw.Cursor, sql: str, bindings: object) -> bool:
        seen.append((sql, threading.get_ident()))
        return True

    def hook(conn: apsw.Connection) -> None:
        conn.exec_trace = trace

    apsw.connection_hooks.append(hook)
    try:
        yield seen
    finally:
        apsw.connection_hooks.remove(hook)


Job = Callable[[WriteContext], object]


@pytest.fixture
def create(user_id: str) -> Job:
    """A job that creates a notification (NEW) for the database's user."""

    def job(ctx: WriteContext) -> store.Notification:
        return writes.create(ctx, user_id, NEW)

    return job


async def run_batch(database: Path, *jobs: Job) -> tuple[list[object], list[Change]]:
    """Run the jobs as one batch (queued together); their results or errors, and the
    changes published."""
    committed: list[Change] = []
    writer = Writer(database, "NORMAL", on_commit=committed.extend)
    writer.start()
    try:
        runs = [writer.run(job) for job in jobs]
        results = await asyncio.gather(*runs, return_exceptions=True)
    finally:
        await writer.close()
    return results, committed


def stored(database: Path) -> list[tuple[str, int]]:
    conn = db.connect(database)
    try:
        rows = conn.execute("SELECT id, cursor FROM notifications ORDER BY rowid")
        return [(str(id_), int(cursor)) for id_, cursor in rows]
    finally:
        conn.close()


async def test_a_batchs_new_rows_go_in_by_one_statement_off_the_loop(
    database: Path, user_id: str, create: Job, statements: list[tuple[str, int]]
) -> None:
    results, committed = await run_batch(database, *[create] * 5)
    inserts = [(sql, thread) for sql, thread in statements if "INTO notifications " in sql]
    assert len(inserts) == 1
    sql, thread = inserts[0]
    assert "json_each" in sql
    assert thread != threading.get_ident()  # the helper thread's, not the loop's
    commits = [thread for sql, thread in statements if sql == "COMMIT"]
    assert commits and threading.get_ident() not in commits  # so is the COMMIT
    created = [result for result in results if isinstance(result, store.Notification)]
    assert len(created) == 5
    # In the batch's order, cursors and rowids alike; what was answered is what is stored.
    assert stored(database) == [(n.id, n.cursor) for n in created]
    assert [c.cursor for c in committed] == [n.cursor for n in created]
    conn = db.connect(database)
    try:
        assert store.get(conn, user_id, created[0].id) == created[0]
    finally:
        conn.close()


async def test_a_job_reads_the_rows_earlier_jobs_of_its_batch_left_waiting(
    database: Path, create: Job
) -> None:
    def count(ctx: WriteContext) -> int:
        return int(scalar(ctx.conn, "SELECT count(*) FROM notifications"))

    results, _ = await run_batch(database, create, create, count, create)
    assert results[2] == 2


async def test_a_failing_job_takes_its_waiting_rows_with_it(
    database: Path, user_id: str, create: Job
) -> None:
    def create_read_then_fail(ctx: WriteContext) -> None:
        writes.create(ctx, user_id, NEW)  # waits, then goes in inside the job's savepoint
        ctx.conn.execute("SELECT 1").fetchall()
        writes.create(ctx, user_id, NEW)  # goes in at once
        raise _Failing

    results, committed = await run_batch(database, create, create_read_then_fail, create)
    first, failed, third = results
    assert isinstance(failed, _Failing)
    assert isinstance(first, store.Notification) and isinstance(third, store.Notification)
    assert stored(database) == [(first.id, first.cursor), (third.id, third.cursor)]
    assert third.cursor == first.cursor + 1
    assert [c.notification_id for c in committed] == [first.id, third.id]


async def test_a_job_whose_waiting_rows_cannot_go_in_fails_alone(
    database: Path, user_id: str, create: Job
) -> None:
    # No door lets such a priority through; the table's CHECK refuses it at the batch's end.
    refused = store.NewNotification("hello", None, "urgent", None, None)

    def create_refused(ctx: WriteContext) -> store.Notification:
        writes.create(ctx, user_id, NEW)
        return writes.create(ctx, user_id, refused)

    results, committed = await run_batch(database, create, create_refused, create)
    first, failed, third = results
    assert isinstance(failed, apsw.ConstraintError)
    assert isinstance(first, store.Notification) and isinstance(third, store.Notification)
    # Both of the failed job's rows are gone; its cursors stay unused (a gap).
    assert stored(database) == [(first.id, first.cursor), (third.id, third.cursor)]
    assert [c.notification_id for c in committed] == [first.id, third.id]


async def test_a_job_whose_failure_ended_the_transaction_fails_the_whole_batch(
    database: Path, create: Job
) -> None:
    # SQLite ends the transaction itself on some errors (a full disk); here the job does it.
    def end_transaction_then_fail(ctx: WriteContext) -> None:
        ctx.conn.execute("ROLLBACK")
        raise _Failing

    results, committed = await run_batch(database, create, end_transaction_then_fail, create)
    assert all(isinstance(result, Exception) for result in results)
    assert stored(database) == []
    assert committed == []


async def test_rows_json_cannot_carry_go_in_one_by_one(database: Path) -> None:
    """A BLOB has no JSON form: the batch's rows are then written job by job, as they are."""
    conn = db.connect(database)
    conn.execute("CREATE TABLE blobs (data BLOB) STRICT")
    conn.close()
    blobs = BulkInsert("blobs", ["data"])

    def insert(data: bytes) -> Job:
        return lambda ctx: ctx.insert(blobs, (data,))

    results, _ = await run_batch(database, insert(b"\x00\xff"), insert(b"two"))
    assert results == [None, None]
    conn = db.connect(database)
    try:
        assert conn.execute("SELECT data FROM blobs ORDER BY rowid").fetchall() == [
            (b"\x00\xff",),
            (b"two",),
        ]
    finally:
        conn.close()


async def test_rows_that_went_in_before_a_failed_commit_fail_the_whole_batch(
    database: Path, statements: list[tuple[str, int]]
) -> None:
    """The rows and COMMIT go as one call: when the COMMIT is what failed (here a deferred
    foreign key, checked only then), every job fails, nothing stays, and the rows are not
    written again one by one (they were in)."""
    conn = db.connect(database)
    conn.execute(
        "CREATE TABLE parents (id INTEGER PRIMARY KEY);"
        "CREATE TABLE children (parent INTEGER"
        " REFERENCES parents (id) DEFERRABLE INITIALLY DEFERRED) STRICT"
    )
    conn.close()
    children = BulkInsert("children", ["parent"])

    def insert(parent: int) -> Job:
        return lambda ctx: ctx.insert(children, (parent,))

    results, _ = await run_batch(database, insert(1), insert(2))
    assert all(isinstance(result, apsw.ConstraintError) for result in results)
    assert [sql for sql, _ in statements if sql.startswith(children.one)] == []
    conn = db.connect(database)
    try:
        assert conn.execute("SELECT count(*) FROM children").fetchall() == [(0,)]
    finally:
        conn.close()
    # The same rows commit once their parent is there.
    conn = db.connect(database)
    conn.execute("INSERT INTO parents (id) VALUES (3)")
    conn.close()
    results, _ = await run_batch(database, insert(3))
    assert results == [None]
