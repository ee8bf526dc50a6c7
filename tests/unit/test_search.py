"""The search language, and the FTS5 index kept in step with every write, on a real database."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import apsw
import pytest

from pnotify import db
from pnotify.clock import DAY_US, now_us
from pnotify.retention import RetentionPolicy, sweep_batch
from pnotify.search import SearchError, to_fts
from pnotify.storage import notification_writes as writes
from pnotify.storage import notifications as store
from pnotify.storage import search_index, users
from pnotify.write_context import WriteContext


@pytest.mark.parametrize(
    ("typed", "expression"),
    [
        ("zebra", '"zebra"*'),
        ("disk web-01", '"disk"* AND "web-01"*'),
        ('"exact phrase" more', '"exact phrase" AND "more"*'),
        ('a -b -"c d"', '(("a"*) NOT "b"*) NOT "c d"'),
        (
            "AND OR NOT NEAR(x) title:y *",
            '"AND"* AND "OR"* AND "NOT"* AND "NEAR(x)"* AND "title:y"*',
        ),
        ("  spaced   out  ", '"spaced"* AND "out"*'),
    ],
)
def test_what_is_typed_becomes_quoted_terms(typed: str, expression: str) -> None:
    assert to_fts(typed) == expression


@pytest.mark.parametrize(
    "typed", ['"open', "-x", "*** ---", "", " ".join(f"w{n}" for n in range(17))]
)
def test_what_cannot_be_a_search_is_refused(typed: str) -> None:
    with pytest.raises(SearchError):
        to_fts(typed)


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[apsw.Connection]:
    connection = db.open_and_migrate(tmp_path / "search.db")
    yield connection
    connection.close()


def _found(conn: apsw.Connection, user_id: str, typed: str) -> list[str]:
    items, total = store.list_page(conn, user_id, store.ListFilter(q=to_fts(typed)), 50, 0)
    assert total == len(items)
    return [n.title for n in items]


@contextmanager
def write_batch(conn: apsw.Connection, after: int = 0) -> Iterator[WriteContext]:
    """As the writer does: one transaction, the index brought up to date before its COMMIT,
    and a step of merging after it."""
    with conn:
        ctx = WriteContext(conn, after)
        yield ctx
        search_index.index_pending(conn)
    search_index.merge_step(conn)


def _index_is_consistent(conn: apsw.Connection) -> None:
    # rank = 1: also compare the index with the rows it was built from.
    conn.execute(
        "INSERT INTO notifications_fts (notifications_fts, rank) VALUES ('integrity-check', 1)"
    )


def test_the_index_follows_create_update_delete_and_retention(conn: apsw.Connection) -> None:
    user = users.upsert(conn, "i", "search", "", "", login=False)
    other = users.upsert(conn, "i", "someone else", "", "", login=False)
    keyed = store.NewNotification("Backup failed", "disk quota", "high", "nas", None, key="nas")
    with write_batch(conn) as ctx:
        first = writes.publish(ctx, user.id, keyed)[0]
        writes.create(
            ctx, other.id, store.NewNotification("Backup failed", None, "low", None, None)
        )
        doomed = writes.create(
            ctx, user.id, store.NewNotification("Zebrafish", None, "low", None, None)
        )
    assert _found(conn, user.id, "backup") == ["Backup failed"]  # not the other user's
    assert _found(conn, user.id, "quota nas") == ["Backup failed"]
    with write_batch(conn, ctx.last_cursor) as ctx:
        writes.publish(
            ctx, user.id, store.NewNotification("Backup ok", "fixed", "low", "nas", None, key="nas")
        )
        writes.delete(ctx, user.id, doomed.id)
    assert _found(conn, user.id, "failed") == []
    assert _found(conn, user.id, "fixed") == ["Backup ok"]
    assert _found(conn, user.id, "zebra") == []
    _index_is_consistent(conn)
    with write_batch(conn, ctx.last_cursor) as ctx:
        writes.set_status(ctx, user.id, first.id, "archived")
    policy = RetentionPolicy(
        archive_after_days=None, delete_archived_after_days=1, tombstone_days=90
    )
    with write_batch(conn, ctx.last_cursor) as ctx:
        sweep_batch(ctx, policy, now_us() + 2 * DAY_US, 10)
    assert _found(conn, user.id, "backup") == []
    _index_is_consistent(conn)


def test_rows_changed_before_they_are_indexed(conn: apsw.Connection) -> None:
    """Rows created and then changed or deleted in one batch, before the index has their words:
    the index gets their final words, or none, and is never told to forget words it lacks."""
    user = users.upsert(conn, "i", "pending", "", "", login=False)
    with write_batch(conn) as ctx:
        writes.publish(
            ctx, user.id, store.NewNotification("Draft", "v1", "low", None, None, key="k")
        )
        writes.publish(
            ctx, user.id, store.NewNotification("Final", "v2", "low", None, None, key="k")
        )
        gone = writes.create(
            ctx, user.id, store.NewNotification("Ephemeral", None, "low", None, None)
        )
        writes.delete(ctx, user.id, gone.id)
        # The newest row deleted, so SQLite may give the next one the same rowid.
        again = writes.create(
            ctx, user.id, store.NewNotification("Reborn", None, "low", None, None)
        )
    assert (_found(conn, user.id, "draft"), _found(conn, user.id, "final")) == ([], ["Final"])
    assert (_found(conn, user.id, "ephemeral"), _found(conn, user.id, "reborn")) == ([], ["Reborn"])
    assert scalar_count(conn, "notifications_fts_pending") == 0
    _index_is_consistent(conn)
    with write_batch(conn, ctx.last_cursor) as ctx:  # and once indexed, changes follow
        writes.delete(ctx, user.id, again.id)
        writes.publish(
            ctx, user.id, store.NewNotification("Later", None, "low", None, None, key="k")
        )
    assert (_found(conn, user.id, "reborn"), _found(conn, user.id, "later")) == ([], ["Later"])
    _index_is_consistent(conn)


def scalar_count(conn: apsw.Connection, table: str) -> int:
    row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()  # noqa: S608 (a test's constant)
    assert row is not None
    return int(row[0])


@pytest.mark.anyio
async def test_the_writer_indexes_rows_left_pending_when_it_starts(tmp_path: Path) -> None:
    path = tmp_path / "left.db"
    conn = db.open_and_migrate(path)
    user = users.upsert(conn, "i", "left", "", "", login=False)
    with conn:  # another program's transaction, which did not bring the index up to date
        writes.create(
            WriteContext(conn, 0),
            user.id,
            store.NewNotification("Leftover", None, "low", None, None),
        )
    assert _found(conn, user.id, "leftover") == []
    writer = db.Writer(path, "FULL", before_commit=search_index.index_pending)
    writer.start()
    await writer.close()
    assert _found(conn, user.id, "leftover") == ["Leftover"]
    conn.close()


def _segments(conn: apsw.Connection) -> int:
    row = conn.execute("SELECT count(DISTINCT segid) FROM notifications_fts_idx").fetchone()
    assert row is not None
    return int(row[0])


def test_segments_are_merged_a_step_at_a_time_and_after_a_large_catch_up(
    conn: apsw.Connection,
) -> None:
    """A segment per batch, merged in steps (never 16 piled up and merged at once inside one
    COMMIT); a catch-up of `large` rows or more leaves the whole index in one segment."""
    user = users.upsert(conn, "i", "merging", "", "", login=False)
    cursor, most = 0, 0
    for batch in range(40):
        with write_batch(conn, cursor) as ctx:
            writes.create(
                ctx, user.id, store.NewNotification(f"Batch {batch}", None, "low", None, None)
            )
        cursor = ctx.last_cursor
        most = max(most, _segments(conn))
    assert most < 8  # merged along the way (by FTS5 alone: 15, then all at once in one COMMIT)
    with conn:  # rows another program wrote, then indexed at once
        ctx = WriteContext(conn, cursor)
        for _ in range(30):
            writes.create(ctx, user.id, store.NewNotification("Loaded", None, "low", None, None))
        search_index.index_pending(conn, large=30)
    assert _segments(conn) == 1
    assert len(_found(conn, user.id, "loaded")) == 30
    assert len(_found(conn, user.id, "batch")) == 40
    _index_is_consistent(conn)


def _index_pages(conn: apsw.Connection) -> set[tuple[int, bytes]]:
    """The index's pages, but for its two records of totals and structure (ids 1 and 10)."""
    rows = conn.execute("SELECT id, block FROM notifications_fts_data WHERE id > 10")
    return {(int(page_id), bytes(block)) for page_id, block in rows}


def test_a_large_catch_up_lands_deep_so_later_batches_merge_without_it(
    conn: apsw.Connection,
) -> None:
    """Merged once as a whole, a catch-up's rows sat on a low level, and the merging after the
    next few dozen batches rewrote them all; merged in growing chunks, they end on a level of
    their own, deep enough that those batches' segments merge among themselves."""
    user = users.upsert(conn, "i", "catch-up", "", "", login=False)
    with conn:  # rows another program wrote, then indexed at once
        ctx = WriteContext(conn, 0)
        for number in range(3_000):  # many pages: far larger than a batch's segment
            loaded = store.NewNotification(f"Loaded {number}", "disk full", "low", None, None)
            writes.create(ctx, user.id, loaded)
        assert search_index.index_pending(conn, large=500) == 3_000
    bulk, cursor = _index_pages(conn), ctx.last_cursor
    for batch in range(40):  # merged as a whole once, the bulk was merged again by the 26th
        with conn:
            ctx = WriteContext(conn, cursor)
            for _ in range(32):
                new = store.NewNotification(f"Batch {batch}", "disk full", "low", None, None)
                writes.create(ctx, user.id, new)
            search_index.index_pending(conn)
        cursor = ctx.last_cursor
        search_index.merge_step(conn)
    assert bulk <= _index_pages(conn)  # the bulk's pages, every one as it was: not merged again
    assert len(_found(conn, user.id, "batch 39")) == 32
    _, total = store.list_page(conn, user.id, store.ListFilter(q=to_fts('"disk full"')), 1, 0)
    assert total == 3_000 + 40 * 32
    _index_is_consistent(conn)


def test_merging_steps_after_new_rows_and_while_there_is_work(conn: apsw.Connection) -> None:
    """An idle server takes no step (no statement at all, so no write lock); a batch that adds
    a segment makes one due, and steps go on while they find work."""
    user = users.upsert(conn, "i", "steps", "", "", login=False)
    merging = search_index.Merging()
    idle = conn.total_changes()
    merging.step(conn)
    assert conn.total_changes() == idle  # not due: not even a statement
    for batch in range(4):  # four segments: a level to merge
        with conn:
            ctx = WriteContext(conn, batch)
            writes.create(
                ctx, user.id, store.NewNotification(f"n {batch}", None, "low", None, None)
            )
            merging.indexed(search_index.index_pending(conn))
        before = conn.total_changes()
        merging.step(conn)
        assert conn.total_changes() > before  # a step after each batch that added rows
    assert _segments(conn) < 4  # and the last one merged


def _work_to_index_a_batch(conn: apsw.Connection, indexed_before: int) -> int:
    """SQLite's steps (in hundreds of VM instructions) to index one batch of 32 new rows,
    with `indexed_before` rows in the index already."""
    user = users.upsert(conn, "i", f"work-{indexed_before}", "", "", login=False)
    with write_batch(conn) as ctx:
        for number in range(indexed_before):
            loaded = store.NewNotification(f"Loaded {number}", "disk full", "low", None, None)
            writes.create(ctx, user.id, loaded)
    steps = 0

    def count() -> bool:
        nonlocal steps
        steps += 1
        return False  # go on

    with conn:
        ctx = WriteContext(conn, ctx.last_cursor)
        for number in range(32):
            new = store.NewNotification(f"New {number}", "disk full", "low", None, None)
            writes.create(ctx, user.id, new)
        conn.set_progress_handler(count, 100)
        try:
            assert search_index.index_pending(conn) == 32
        finally:
            conn.set_progress_handler(None)
    return steps


def test_indexing_a_batch_reads_its_own_rows_not_every_notification(tmp_path: Path) -> None:
    """The noted rows drive the statement, each notification looked up by rowid; a plain JOIN
    let SQLite walk every notification instead (18 ms a batch at 100,000 rows)."""
    small = db.open_and_migrate(tmp_path / "small.db")
    large = db.open_and_migrate(tmp_path / "large.db")
    try:
        few, many = _work_to_index_a_batch(small, 300), _work_to_index_a_batch(large, 3_000)
    finally:
        small.close()
        large.close()
    assert many <= 2 * few + 2  # ten times the rows, about the same work (before: 158 vs 23)


class _SyncCountingFile(apsw.VFSFile):
    def __init__(self, synced: list[str], name: str | apsw.URIFilename, flags: list[int]) -> None:
        self._synced = synced
        self._name = Path(name.filename() if isinstance(name, apsw.URIFilename) else name).name
        super().__init__("unix", name, flags)

    def xSync(self, flags: int) -> None:
        self._synced.append(self._name)
        super().xSync(flags)


class _SyncCountingVFS(apsw.VFS):
    """The default VFS while it is registered: SQLite's own, noting each file it syncs."""

    def __init__(self) -> None:
        self.synced: list[str] = []
        super().__init__("sync-counting", base="unix", makedefault=True)

    def xOpen(self, name: str | apsw.URIFilename | None, flags: list[int]) -> apsw.VFSFile:
        assert name is not None  # SQLite's temporary files have none; this test makes none
        return _SyncCountingFile(self.synced, name, flags)


def test_a_merging_step_leaves_syncing_to_the_next_batch(tmp_path: Path) -> None:
    """A step only rearranges the index: lost to a power cut, the index is as it was. So its
    COMMIT does not wait for the disk (it did: one sync more after ~a batch in four), and the
    next batch's COMMIT syncs the log as before."""
    vfs = _SyncCountingVFS()
    try:
        conn = db.open_and_migrate(tmp_path / "sync.db")  # synchronous = FULL
        user = users.upsert(conn, "i", "sync", "", "", login=False)
        for batch in range(4):  # four segments: a level to merge
            with conn:
                ctx = WriteContext(conn, batch)
                writes.create(ctx, user.id, store.NewNotification("n", None, "low", None, None))
                search_index.index_pending(conn)
        vfs.synced.clear()
        assert search_index.merge_step(conn)
        assert vfs.synced == []
        assert conn.pragma("synchronous") == 2  # FULL again, for the batches
        with conn:
            ctx = WriteContext(conn, 4)
            writes.create(ctx, user.id, store.NewNotification("n", None, "low", None, None))
            search_index.index_pending(conn)
        assert vfs.synced == ["sync.db-wal"]
        conn.close()
    finally:
        vfs.unregister()
