"""search_reads.SearchReads: a search on the loop while it is quick, else in a thread of its
own, the index attached, cut at the read time limit, the loop going on meanwhile."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import apsw
import pytest

from pnotify import db, read_limit
from pnotify.search_reads import SearchReads
from pnotify.storage import notification_writes as writes
from pnotify.storage import notifications as store
from pnotify.storage import search_index
from pnotify.write_context import WriteContext

pytestmark = pytest.mark.anyio

# A statement that runs as long as it is let: it counts without end.
_ENDLESS = "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT count(*) FROM n"
# One that runs a while (~0.1-0.3 s here), then ends.
_SLOW = (
    "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 2000000) "
    "SELECT count(*) FROM n"
)


def _scalar(conn: apsw.Connection, sql: str) -> int:
    row = conn.execute(sql).fetchone()
    assert row is not None
    return int(row[0])


@contextmanager
def _search_reads(database: Path, limit_ms: float) -> Iterator[SearchReads]:
    """As the app makes them: beside the loop's own connection, its time limit on."""
    reader = db.connect(database)
    search_index.attach(reader, database)
    reads = SearchReads(
        reader, read_limit.limit_read_time(reader, limit_ms), database, "NORMAL", limit_ms
    )
    reads.start()
    try:
        yield reads
    finally:
        reads.close()
        reader.close()


async def test_a_quick_search_is_read_on_the_loop_and_finds_what_is_indexed(
    database: Path, user_id: str
) -> None:
    conn = db.connect(database)
    with conn:
        ctx = WriteContext(conn, 0)
        writes.create(ctx, user_id, store.NewNotification("Zebra seen", None, "low", None, None))
    conn.close()
    search_index.bring_up_to_date(database)

    def find(conn: apsw.Connection, word: str) -> tuple[str, list[str]]:
        found = store.list_page(conn, user_id, store.ListFilter(q=f'"{word}"*'), 10, 0)[0]
        return threading.current_thread().name, [n.title for n in found]

    with _search_reads(database, 1_000) as reads:
        thread, titles = await reads.run(find, "zebra")
    assert thread == threading.current_thread().name  # the loop's: no hand-off
    assert titles == ["Zebra seen"]


async def test_a_long_search_is_read_again_in_its_thread_while_the_loop_goes_on(
    database: Path,
) -> None:
    tried_in: list[str] = []

    def slow(conn: apsw.Connection) -> int:
        tried_in.append(threading.current_thread().name)
        return _scalar(conn, _SLOW)

    with _search_reads(database, 10_000) as reads:
        search = asyncio.ensure_future(reads.run(slow))
        turns = 0
        while not search.done():
            await asyncio.sleep(0)  # a turn of the loop, as any other request would take
            turns += 1
        assert await search == 2_000_000
    # Cut on the loop (after ON_LOOP_MS), then read whole in the searches' thread.
    assert tried_in[0] == threading.current_thread().name
    assert len(tried_in) == 2 and tried_in[1].startswith("pnotify-search-read")
    assert turns > 100  # all on the loop, the statement would have held it: one turn


async def test_a_search_past_the_time_limit_is_cut(database: Path) -> None:
    with _search_reads(database, 50) as reads:
        with pytest.raises(apsw.InterruptError):
            await asyncio.wait_for(reads.run(_scalar, _ENDLESS), 30)
        assert await reads.run(_scalar, "SELECT 1") == 1  # the connections are still usable


def test_a_lower_limit_for_a_while_never_raises_the_limit(database: Path) -> None:
    """`at_most` lowers the read limit; asked for more than the configured limit, it keeps the
    configured one (READ_TIME_LIMIT_MS below a search's try on the loop)."""
    conn = db.connect(database)
    limit = read_limit.limit_read_time(conn, 1)
    try:
        with limit.at_most(60_000), pytest.raises(apsw.InterruptError):
            _scalar(conn, _SLOW)
    finally:
        conn.close()
