"""The search language, and the FTS5 index in its own file kept in step with every write, on
real databases."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import apsw
import pytest

from pnotify import db
from pnotify.clock import DAY_US, now_us
from pnotify.http import ServiceUnavailable
from pnotify.retention import RetentionPolicy, sweep_batch
from pnotify.search import SearchError, to_fts
from pnotify.search_indexer import BACKGROUND_NICE, SearchIndexer
from pnotify.storage import notification_writes as writes
from pnotify.storage import notifications as store
from pnotify.storage import search_index, users
from pnotify.write_context import WriteContext
from pnotify.writer import Writer


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
    search_index.attach(connection, tmp_path / "search.db")
    yield connection
    connection.close()


@pytest.fixture
def index(conn: apsw.Connection, tmp_path: Path) -> Iterator[apsw.Connection]:
    connection, rebuild = search_index.open_index(tmp_path / "search.db")
    if rebuild:
        search_index.rebuild(connection)
    yield connection
    connection.close()


def _found(conn: apsw.Connection, user_id: str, typed: str) -> list[str]:
    items, total = store.list_page(conn, user_id, store.ListFilter(q=to_fts(typed)), 50, 0)
    assert total == len(items)
    return [n.title for n in items]


@contextmanager
def write_batch(
    conn: apsw.Connection, index: apsw.Connection, after: int = 0
) -> Iterator[WriteContext]:
    """As the writer and the index's thread do: one transaction, which forgets the changes the
    index holds; after its COMMIT the index takes the new ones in and merges a step."""
    with conn:
        ctx = WriteContext(conn, after)
        yield ctx
        search_index.forget_applied(conn, search_index.applied(index))
    search_index.catch_up(index)
    search_index.merge_step(index)


def _index_is_consistent(index: apsw.Connection) -> None:
    index.execute("INSERT INTO notifications_fts (notifications_fts) VALUES ('integrity-check')")


def test_the_index_follows_create_update_delete_and_retention(
    conn: apsw.Connection, index: apsw.Connection
) -> None:
    user = users.upsert(conn, "i", "search", "", "", login=False)
    other = users.upsert(conn, "i", "someone else", "", "", login=False)
    keyed = store.NewNotification("Backup failed", "disk quota", "high", "nas", None, key="nas")
    with write_batch(conn, index) as ctx:
        first = writes.publish(ctx, user.id, keyed)[0]
        writes.create(
            ctx, other.id, store.NewNotification("Backup failed", None, "low", None, None)
        )
        doomed = writes.create(
            ctx, user.id, store.NewNotification("Zebrafish", None, "low", None, None)
        )
    assert _found(conn, user.id, "backup") == ["Backup failed"]  # not the other user's
    assert _found(conn, user.id, "quota nas") == ["Backup failed"]
    with write_batch(conn, index, ctx.last_cursor) as ctx:
        writes.publish(
            ctx, user.id, store.NewNotification("Backup ok", "fixed", "low", "nas", None, key="nas")
        )
        writes.delete(ctx, user.id, doomed.id)
    assert _found(conn, user.id, "failed") == []
    assert _found(conn, user.id, "fixed") == ["Backup ok"]
    assert _found(conn, user.id, "zebra") == []
    _index_is_consistent(index)
    with write_batch(conn, index, ctx.last_cursor) as ctx:
        writes.set_status(ctx, user.id, first.id, "archived")
    policy = RetentionPolicy(
        archive_after_days=None, delete_archived_after_days=1, tombstone_days=90
    )
    with write_batch(conn, index, ctx.last_cursor) as ctx:
        sweep_batch(ctx, policy, now_us() + 2 * DAY_US, 10)
    assert _found(conn, user.id, "backup") == []
    assert _terms(index) == {"backup", "failed"}  # the other user's row's words, no more
    _index_is_consistent(index)


def _terms(index: apsw.Connection) -> set[str]:
    """Every word the index holds a row for."""
    index.execute(
        "CREATE VIRTUAL TABLE IF NOT EXISTS temp.terms"
        " USING fts5vocab(main, notifications_fts, row)"
    )
    return {str(term) for (term,) in index.execute("SELECT term FROM temp.terms WHERE cnt > 0")}


def test_rows_changed_before_they_are_indexed(
    conn: apsw.Connection, index: apsw.Connection
) -> None:
    """Rows created and then changed or deleted before the index took them in: the index gets
    their final words, or none."""
    user = users.upsert(conn, "i", "pending", "", "", login=False)
    with write_batch(conn, index) as ctx:
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
    assert search_index.applied(index) == search_index.latest(conn)
    _index_is_consistent(index)
    with write_batch(conn, index, ctx.last_cursor) as ctx:  # and once indexed, changes follow
        writes.delete(ctx, user.id, again.id)
        writes.publish(
            ctx, user.id, store.NewNotification("Later", None, "low", None, None, key="k")
        )
    assert (_found(conn, user.id, "reborn"), _found(conn, user.id, "later")) == ([], ["Later"])
    assert _terms(index) == {"later"}  # the keyed row's words of now, no more
    _index_is_consistent(index)


def scalar_count(conn: apsw.Connection, table: str) -> int:
    row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()  # noqa: S608 (a test's constant)
    assert row is not None
    return int(row[0])


def _create(conn: apsw.Connection, user_id: str, title: str, count: int = 1) -> None:
    """Rows written as another program would, without the server's writer."""
    with conn:
        ctx = WriteContext(conn, 0)
        for _ in range(count):
            writes.create(ctx, user_id, store.NewNotification(title, None, "low", None, None))


def test_the_index_goes_on_from_the_last_change_it_holds(tmp_path: Path) -> None:
    """Reopened, it takes in only the changes it lacks; a file that holds changes the database
    has not got (a backup restored under it), of another database, or not SQLite, is rebuilt."""
    path = tmp_path / "resume.db"
    conn = db.open_and_migrate(path)
    search_index.attach(conn, path)
    user = users.upsert(conn, "i", "resume", "", "", login=False)
    _create(conn, user.id, "Early")
    search_index.bring_up_to_date(path)
    assert scalar_count(conn, "search_changes") == 0  # forgotten once held
    _create(conn, user.id, "Late", 3)
    index, rebuild = search_index.open_index(path)
    assert not rebuild
    assert search_index.catch_up(index) == search_index.latest(conn)
    assert len(_found(conn, user.id, "late")) == 3
    index.execute("UPDATE search_state SET value = value + 1 WHERE key = 'applied'")
    index.close()
    assert search_index.open_index(path)[1]  # ahead of the database: rebuilt
    conn.execute("UPDATE server_state SET value = value + 1 WHERE key = 'search_identity'")
    index, rebuild = search_index.open_index(path)
    assert rebuild  # another database's
    search_index.rebuild(index)
    index.close()
    assert (len(_found(conn, user.id, "early")), len(_found(conn, user.id, "late"))) == (1, 3)
    conn.execute("DETACH DATABASE search")
    search_index.index_path(path).write_bytes(b"not a database" * 100)
    index, rebuild = search_index.open_index(path)
    assert rebuild  # a damaged file is made again
    index.close()
    search_index.remove_index(path)  # as restore does
    assert not search_index.index_path(path).exists()
    conn.close()


def test_catching_up_reports_changes_another_program_took_in(tmp_path: Path) -> None:
    """The server's index connection, open while another program takes rows into the index
    (as the benchmarks load theirs), finds nothing left to take in, and still reports the last
    change the index holds: the searches waiting for those rows are answered (search_indexer.py
    learns it through `took_in`), not held until their wait is over."""
    path = tmp_path / "loaded.db"
    conn = db.open_and_migrate(path)
    search_index.attach(conn, path)
    user = users.upsert(conn, "i", "loaded", "", "", login=False)
    index, _ = search_index.open_index(path)
    took_in: list[int] = []
    search_index.catch_up(index, took_in.append)
    assert took_in == [0]  # nothing yet
    _create(conn, user.id, "Loaded", 3)
    search_index.bring_up_to_date(path)  # another program's connection
    assert search_index.catch_up(index, took_in.append) == search_index.latest(conn) == 3
    assert took_in == [0, 3]
    index.close()
    conn.close()


def test_the_writer_forgets_held_changes_a_bounded_number_at_a_time(
    conn: apsw.Connection,
) -> None:
    user = users.upsert(conn, "i", "forget", "", "", login=False)
    _create(conn, user.id, "Loaded", 25)
    latest = search_index.latest(conn)
    with conn:
        assert search_index.forget_applied(conn, latest - 5, most=10) == latest - 15
    assert scalar_count(conn, "search_changes") == 15
    with conn:
        assert search_index.forget_applied(conn, latest - 5, most=10) == latest - 5
    assert scalar_count(conn, "search_changes") == 5


@pytest.mark.anyio
async def test_a_search_waits_until_the_index_holds_what_it_can_see(tmp_path: Path) -> None:
    """Rows left by the last run, rows the writer commits and rows another program writes are
    all found by the search that follows; with the index's thread stopped, a search is
    answered 503 once its wait is over, not held."""
    path = tmp_path / "live.db"
    conn = db.open_and_migrate(path)
    user = users.upsert(conn, "i", "live", "", "", login=False)
    _create(conn, user.id, "Leftover")
    search = SearchIndexer(path)
    search.start()
    search_index.attach(conn, path)
    writer = Writer(path, "FULL", after_commit=search.changed)
    writer.start()
    try:
        await search.caught_up(conn)
        assert _found(conn, user.id, "leftover") == ["Leftover"]
        assert _nice_of_thread("pnotify-search") == BACKGROUND_NICE  # it is background work
        new = store.NewNotification("Fresh", None, "low", None, None)
        await writer.run(lambda ctx: writes.create(ctx, user.id, new))
        await search.caught_up(conn)
        assert _found(conn, user.id, "fresh") == ["Fresh"]
        _create(conn, user.id, "Behind")  # no COMMIT of the writer's wakes the thread
        await search.caught_up(conn)
        assert _found(conn, user.id, "behind") == ["Behind"]
    finally:
        await writer.close()
        await search.stop()
    _create(conn, user.id, "Unseen")
    search.wait_seconds = 0.05
    with pytest.raises(ServiceUnavailable) as refused:
        await search.caught_up(conn)
    assert (refused.value.code, refused.value.headers) == (
        "search_index_behind",
        {"retry-after": "5"},
    )
    conn.close()


def _nice_of_thread(name: str) -> int:
    """The nice value of this process's thread of that name, as Linux reports it."""
    (thread,) = [t for t in threading.enumerate() if t.name == name]
    stat = Path(f"/proc/self/task/{thread.native_id}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[16])  # field 19, counted after the name


def _segments(index: apsw.Connection) -> int:
    row = index.execute("SELECT count(DISTINCT segid) FROM notifications_fts_idx").fetchone()
    assert row is not None
    return int(row[0])


def test_segments_are_merged_a_step_at_a_time_and_after_a_large_catch_up(
    conn: apsw.Connection, index: apsw.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A segment per chunk of changes, merged in steps (never 16 piled up and merged at once);
    a catch-up of LARGE_CATCH_UP rows or more leaves the whole index in one segment."""
    user = users.upsert(conn, "i", "merging", "", "", login=False)
    cursor, most = 0, 0
    for batch in range(40):
        with write_batch(conn, index, cursor) as ctx:
            writes.create(
                ctx, user.id, store.NewNotification(f"Batch {batch}", None, "low", None, None)
            )
        cursor = ctx.last_cursor
        most = max(most, _segments(index))
    assert most < 8  # merged along the way (by FTS5 alone: 15, then all at once)
    monkeypatch.setattr(search_index, "LARGE_CATCH_UP", 30)
    _create(conn, user.id, "Loaded", 30)
    search_index.catch_up(index)
    assert _segments(index) == 1
    assert len(_found(conn, user.id, "loaded")) == 30
    assert len(_found(conn, user.id, "batch")) == 40
    _index_is_consistent(index)


def _work_to_take_in_a_batch(conn: apsw.Connection, index: apsw.Connection, before: int) -> int:
    """SQLite's steps (in hundreds of VM instructions) to take in one batch of 32 new rows,
    with `before` rows in the index already."""
    user = users.upsert(conn, "i", f"work-{before}", "", "", login=False)
    _create(conn, user.id, "Loaded", before)
    search_index.catch_up(index)
    _create(conn, user.id, "New", 32)
    steps = 0

    def count() -> bool:
        nonlocal steps
        steps += 1
        return False  # go on

    index.set_progress_handler(count, 100)
    try:
        assert search_index.apply_changes(index)[1] == 32
    finally:
        index.set_progress_handler(None)
    return steps


def test_taking_in_a_batch_reads_its_own_rows_not_every_notification(tmp_path: Path) -> None:
    """The changes drive the statement, each notification looked up by rowid; a plain JOIN
    let SQLite walk every notification instead (18 ms a batch at 100,000 rows)."""
    steps = []
    for name, before in (("small.db", 300), ("large.db", 3_000)):
        conn = db.open_and_migrate(tmp_path / name)
        index, _ = search_index.open_index(tmp_path / name)
        try:
            steps.append(_work_to_take_in_a_batch(conn, index, before))
        finally:
            index.close()
            conn.close()
    few, many = steps
    assert many <= 2 * few + 2  # ten times the rows, about the same work


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


def test_only_the_notifications_commit_waits_for_the_disk(tmp_path: Path) -> None:
    """The index is made from the rows: its transactions (taking changes in, merging) do not
    wait for the disk, so a POST's batch syncs the notifications' log once, as before."""
    vfs = _SyncCountingVFS()
    try:
        path = tmp_path / "sync.db"
        conn = db.open_and_migrate(path)  # synchronous = FULL
        index, _ = search_index.open_index(path)
        user = users.upsert(conn, "i", "sync", "", "", login=False)
        search_index.rebuild(index)
        vfs.synced.clear()
        for _ in range(4):  # four segments: a level to merge
            _create(conn, user.id, "n")
            search_index.catch_up(index)
        assert vfs.synced == ["sync.db-wal"] * 4
        assert search_index.merge_step(index)
        assert vfs.synced == ["sync.db-wal"] * 4
        index.close()
        conn.close()
    finally:
        vfs.unregister()
