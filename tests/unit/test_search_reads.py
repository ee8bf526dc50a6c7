"""search_reads.SearchReads: searches in a thread of their own, the index attached, cut at the
read time limit, the loop going on meanwhile."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import apsw
import pytest

from pnotify import db
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


async def test_a_search_runs_in_the_searches_thread_and_finds_what_is_indexed(
    database: Path, user_id: str
) -> None:
    conn = db.connect(database)
    with conn:
        ctx = WriteContext(conn, 0)
        writes.create(ctx, user_id, store.NewNotification("Zebra seen", None, "low", None, None))
    conn.close()
    search_index.bring_up_to_date(database)
    reads = SearchReads(database, "NORMAL", 1_000)
    reads.start()
    try:

        def find(conn: apsw.Connection, word: str) -> tuple[str, list[str]]:
            found = store.list_page(conn, user_id, store.ListFilter(q=f'"{word}"*'), 10, 0)[0]
            return threading.current_thread().name, [n.title for n in found]

        thread, titles = await reads.run(find, "zebra")
    finally:
        reads.close()
    assert thread.startswith("pnotify-search-read")
    assert titles == ["Zebra seen"]


async def test_the_loop_goes_on_while_a_search_runs(database: Path) -> None:
    reads = SearchReads(database, "NORMAL", 10_000)
    reads.start()
    try:
        search = asyncio.ensure_future(reads.run(_scalar, _SLOW))
        turns = 0
        while not search.done():
            await asyncio.sleep(0)  # a turn of the loop, as any other request would take
            turns += 1
        assert await search == 2_000_000
    finally:
        reads.close()
    assert turns > 100  # inline, the statement would have held the loop: one turn


async def test_a_search_past_the_time_limit_is_cut(database: Path) -> None:
    reads = SearchReads(database, "NORMAL", 50)
    reads.start()
    try:
        with pytest.raises(apsw.InterruptError):
            await asyncio.wait_for(reads.run(_scalar, _ENDLESS), 30)
        assert await reads.run(_scalar, "SELECT 1") == 1  # the connection is still usable
    finally:
        reads.close()
