"""writer.Writer: group commit, a savepoint per job, change cursors, publish after COMMIT."""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Awaitable
from pathlib import Path

import apsw
import pytest

from pnotify import db, read_limit
from pnotify.changes import Change
from pnotify.storage import notification_writes as writes
from pnotify.storage import notifications as store
from pnotify.storage import replay
from pnotify.write_context import WriteContext
from pnotify.writer import HELPER_SWITCH_SECONDS, Writer

pytestmark = pytest.mark.anyio

NEW = store.NewNotification("hello", None, "low", None, None)


class _Failing(Exception):
    pass


async def test_one_failing_job_does_not_undo_the_others_in_its_batch(
    database: Path, user_id: str
) -> None:
    committed: list[list[Change]] = []
    writer = Writer(database, "NORMAL", on_commit=committed.append)
    writer.start()

    def create(ctx: WriteContext) -> store.Notification:
        return writes.create(ctx, user_id, NEW)

    def create_then_fail(ctx: WriteContext) -> None:
        writes.create(ctx, user_id, NEW)  # written, takes a cursor, then rolled back
        raise _Failing

    try:
        # Queued together, so they share one transaction (one batch).
        jobs: list[Awaitable[object]] = [
            writer.run(create),
            writer.run(create_then_fail),
            writer.run(create),
        ]
        results = await asyncio.gather(*jobs, return_exceptions=True)
    finally:
        await writer.close()
    first, failed, third = results
    assert isinstance(failed, _Failing)
    assert isinstance(first, store.Notification)
    assert isinstance(third, store.Notification)
    # The failed job's cursor was handed back: the survivors' cursors have no gap.
    assert third.cursor == first.cursor + 1
    assert [[c.notification_id for c in batch] for batch in committed] == [[first.id, third.id]]
    conn = db.connect(database)
    try:
        assert conn.execute("SELECT count(*) FROM notifications").fetchone() == (2,)
        assert replay.current_cursor(conn)[0] == third.cursor
    finally:
        conn.close()


async def test_run_answers_after_commit(database: Path, user_id: str) -> None:
    writer = Writer(database, "FULL")
    writer.start()
    try:
        created = await writer.run(lambda ctx: writes.create(ctx, user_id, NEW))
        # Another connection sees it at once: run() returned only after COMMIT.
        other = db.connect(database, readonly=True)
        try:
            assert store.get(other, user_id, created.id) == created
        finally:
            other.close()
    finally:
        await writer.close()


async def test_then_makes_the_answer_on_the_loop_and_before_commit_runs_in_the_helper(
    database: Path, user_id: str
) -> None:
    """`then` gets the job's result on the loop's thread and makes what `run` returns (not
    called for a failed job); `before_commit` runs in the helper thread, inside the batch's
    transaction."""
    loop_thread = threading.current_thread()
    answered: list[tuple[str, bool]] = []
    before_commit: list[tuple[bool, bool]] = []

    def note_before_commit(conn: apsw.Connection, used: bool) -> None:
        off_loop = threading.current_thread() is not loop_thread
        before_commit.append((off_loop, conn.get_autocommit()))

    def answer(created: store.Notification) -> str:
        answered.append((created.id, threading.current_thread() is loop_thread))
        return f"answer for {created.id}"

    def fail(ctx: WriteContext) -> store.Notification:
        raise _Failing

    writer = Writer(database, "NORMAL", before_commit=note_before_commit)
    writer.start()
    before_commit.clear()  # the one at start, outside any batch
    try:
        runs = [
            writer.run(lambda ctx: writes.create(ctx, user_id, NEW), answer),
            writer.run(fail, answer),
        ]
        first, failed = await asyncio.gather(*runs, return_exceptions=True)
    finally:
        await writer.close()
    assert isinstance(failed, _Failing)
    assert len(answered) == 1 and answered[0][1] is True  # once, on the loop's thread
    assert first == f"answer for {answered[0][0]}"
    assert before_commit == [(True, False)]  # off the loop, inside the transaction


async def test_when_then_raises_run_raises_it_and_the_write_stands(
    database: Path, user_id: str
) -> None:
    def answer(created: store.Notification) -> str:
        raise _Failing(created.id)

    writer = Writer(database, "NORMAL")
    writer.start()
    try:
        with pytest.raises(_Failing) as raised:
            await writer.run(lambda ctx: writes.create(ctx, user_id, NEW), answer)
    finally:
        await writer.close()
    conn = db.connect(database)
    try:
        assert store.get(conn, user_id, str(raised.value)) is not None
    finally:
        conn.close()


async def test_after_commit_runs_off_the_loop_once_the_batch_is_committed(
    database: Path, user_id: str
) -> None:
    """`after_commit` (it wakes the search index's thread) runs in the helper thread, once the
    batch's rows are committed: another connection sees them."""
    seen: list[tuple[bool, int]] = []
    other = db.connect(database)

    def committed() -> None:
        rows = other.execute("SELECT count(*) FROM notifications").fetchone()
        seen.append((threading.current_thread() is not loop_thread, rows[0] if rows else -1))

    loop_thread = threading.current_thread()
    writer = Writer(database, "FULL", after_commit=committed)
    writer.start()
    try:
        await writer.run(lambda ctx: writes.create(ctx, user_id, NEW))
    finally:
        await writer.close()
        other.close()
    assert seen == [(True, 1)]  # off the loop, after the COMMIT


async def test_a_closed_writer_refuses_work(database: Path) -> None:
    writer = Writer(database, "NORMAL")
    writer.start()
    await writer.close()
    with pytest.raises(RuntimeError, match="not running"):
        await writer.run(lambda ctx: None)


async def test_a_step_that_raises_stops_the_writer_and_fails_every_waiting_job(
    database: Path, user_id: str
) -> None:
    """A bug in a batch's step (here the commit observer raising) must not leave requests
    waiting forever: the writer stops, says so (`running`, so /healthz fails), and every job
    queued or in the works fails."""

    def observe(seconds: float) -> None:
        raise _Failing

    writer = Writer(database, "NORMAL", observe_commit=observe)
    writer.start()
    queued: list[asyncio.Future[None]] = []

    def create_and_queue_another(ctx: WriteContext) -> None:
        writes.create(ctx, user_id, NEW)
        # Queued while this batch is in the works: it waits for the next.
        queued.append(asyncio.ensure_future(writer.run(lambda ctx: None)))

    try:
        in_the_works = writer.run(create_and_queue_another)
        results = [
            *await asyncio.wait_for(asyncio.gather(in_the_works, return_exceptions=True), 10),
            *await asyncio.wait_for(asyncio.gather(*queued, return_exceptions=True), 10),
        ]
        assert not writer.running
        with pytest.raises(RuntimeError, match="not running"):
            await writer.run(lambda ctx: None)
    finally:
        await asyncio.wait_for(writer.close(), 10)
    assert len(results) == 2
    for result in results:
        assert isinstance(result, RuntimeError)
        assert str(result) == "the writer stopped"


async def test_the_gil_switches_quickly_only_while_the_helper_has_a_batch(
    database: Path, user_id: str
) -> None:
    """The helper thread needs the GIL between its statements: while it has a batch the
    loop lets go of it within HELPER_SWITCH_SECONDS; afterwards, the usual interval again."""
    seen_in_helper: list[float] = []
    usual = sys.getswitchinterval()
    writer = Writer(
        database,
        "NORMAL",
        before_commit=lambda conn, used: seen_in_helper.append(sys.getswitchinterval()),
    )
    writer.start()
    try:
        await writer.run(lambda ctx: writes.create(ctx, user_id, NEW))
        assert sys.getswitchinterval() == usual
    finally:
        await writer.close()
    assert seen_in_helper[-1] == pytest.approx(HELPER_SWITCH_SECONDS)
    assert usual != pytest.approx(HELPER_SWITCH_SECONDS)


def test_read_time_limit_interrupts_a_long_statement(tmp_path: Path) -> None:
    conn = db.connect(tmp_path / "r.db")
    read_limit.limit_read_time(conn, 20)
    endless = (
        "WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r) "
        "SELECT count(*) FROM (SELECT x FROM r LIMIT 1000000000)"
    )
    with pytest.raises(apsw.InterruptError):
        conn.execute(endless).fetchall()
    # Each statement gets its own time: a quick one right after runs normally.
    assert conn.execute("SELECT 1").fetchall() == [(1,)]
    conn.close()


async def test_the_writer_checkpoints_between_batches_so_the_wal_starts_over(
    tmp_path: Path,
) -> None:
    path = tmp_path / "c.db"
    conn = db.open_and_migrate(path)
    conn.execute("CREATE TABLE filler (data BLOB)")
    conn.close()
    writer = Writer(path, "NORMAL")
    writer.start()

    def ten_pages(ctx: WriteContext) -> None:
        ctx.conn.execute("INSERT INTO filler VALUES (randomblob(40000))")

    try:
        # Past the checkpoint threshold (1,000 pages) in batches, as fast as they commit.
        await asyncio.gather(*(writer.run(ten_pages) for _ in range(150)))
        checkpointer = writer._checkpointer
        # The bulk is copied beside the batches, the rest between two of them: in a few more.
        for _ in range(2_000):
            await writer.run(ten_pages)
            if checkpointer.checkpoints_total:
                break
        assert checkpointer.checkpoints_total >= 1
        await writer.run(ten_pages)
        assert checkpointer.wal_pages < 1_000  # started over, not grown past the threshold
    finally:
        await writer.close()


class _OpensRecorded(apsw.VFS):
    """The default VFS for connections opened meanwhile: records the kind of each file SQLite
    opens (SQLITE_OPEN_MAIN_DB, SQLITE_OPEN_SUBJOURNAL, ...), then opens it as usual."""

    def __init__(self) -> None:
        self.kinds: list[int] = []
        self.base = apsw.vfs_names()[0]  # the default until now
        super().__init__("opens-recorded", base=self.base, makedefault=True)

    def xOpen(self, name: str | apsw.URIFilename | None, flags: list[int]) -> apsw.VFSFile:
        self.kinds.append(flags[0] & 0x7FF00)  # the file-kind bits
        return apsw.VFSFile(self.base, name, flags)


async def test_a_large_batch_keeps_its_statement_journal_in_memory(
    database: Path, user_id: str
) -> None:
    """A batch of 100 new rows, after a first, is one INSERT whose statement journal (the
    pages it changes that were there before it) passes 64 KiB: SQLite would move it to a
    temporary file, one per batch (writer.py: temp_store)."""
    recorded = _OpensRecorded()
    writer = Writer(database, "NORMAL")
    try:
        writer.start()
        try:
            created = []
            for _ in range(2):  # two batches, queued together each
                jobs = [
                    writer.run(lambda ctx: writes.create(ctx, user_id, NEW)) for _ in range(100)
                ]
                created += await asyncio.gather(*jobs)
        finally:
            await writer.close()
    finally:
        recorded.unregister()
    assert len({n.cursor for n in created}) == 200
    assert apsw.SQLITE_OPEN_MAIN_DB in recorded.kinds  # the writer's files went through it
    assert apsw.SQLITE_OPEN_SUBJOURNAL not in recorded.kinds
