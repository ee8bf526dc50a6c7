"""Searches: on the event loop while they are quick, else in a thread of their own, on a
connection of their own.

Every other read runs inline on the loop (read_limit.py: measured fastest, a list is ~0.3 ms).
A search is not bounded that way: the newest page of a word in 100,000 of 100,000
notifications, and their count, took ~72 ms, all of it holding the loop, so every other
request and every stream waited that long. So a search first runs on the loop's connection
with each statement cut after ON_LOOP_MS; one that is cut is read again in the searches'
thread, where SQLite does that work without the GIL while the loop goes on. A search that
always went to the thread paid for the hand-off: ~0.2 ms more at 1,000,000 rows (`make
bench`), most of a selective search's time. One thread, so long searches take their turns
and hold one core at most.

In the thread, the time limit is the loop's reads' (a statement cut after `READ_TIME_LIMIT_MS`
is answered 503), checked less often: the check is Python, so it takes the GIL from the loop
each time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Concatenate, ParamSpec, TypeVar

import apsw

from pnotify import db, read_limit
from pnotify.storage import search_index

P = ParamSpec("P")
T = TypeVar("T")

# A statement of a search may hold the loop this long; a selective one takes ~0.1-0.4 ms.
ON_LOOP_MS = 2.0
# ~1,000,000 SQLite VM steps are a few milliseconds: the limit is kept to within that.
PROGRESS_STEPS = 1_000_000


class SearchReads:
    def __init__(
        self,
        loop_reader: apsw.Connection,
        loop_limit: read_limit.ReadTimeLimit,
        database: Path,
        synchronous: str,
        time_limit_ms: float,
    ) -> None:
        """`loop_reader` is the loop's connection (its `loop_limit` lowered for a search's
        first try); the thread's connection opens on `database`."""
        self._loop_reader = loop_reader
        self._loop_limit = loop_limit
        self._database = database
        self._synchronous = synchronous
        self._time_limit_ms = time_limit_ms
        self._conn: apsw.Connection | None = None
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pnotify-search-read")

    def start(self) -> None:
        """Open the thread's connection, the search index attached; after the index's thread
        started (search_indexer.py: the file may be made anew)."""
        conn = db.connect(self._database, self._synchronous)
        search_index.attach(conn, self._database)
        read_limit.limit_read_time(conn, self._time_limit_ms, PROGRESS_STEPS)
        self._conn = conn

    async def run(
        self, read: Callable[Concatenate[apsw.Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """`read(connection, *args, **kwargs)`: on the loop if each statement is quick, else
        again in the searches' thread. `read` must only read."""
        conn = self._conn
        if conn is None:
            raise RuntimeError("search reads are not open")
        try:
            with self._loop_limit.at_most(ON_LOOP_MS):
                return read(self._loop_reader, *args, **kwargs)
        except apsw.InterruptError:
            pass  # too long for the loop
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, lambda: read(conn, *args, **kwargs))

    def close(self) -> None:
        """Wait for a search under way; close the thread's connection."""
        self._thread.shutdown(wait=True)
        if self._conn is not None:
            self._conn.close()
            self._conn = None
