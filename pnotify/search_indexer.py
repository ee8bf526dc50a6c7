"""The thread that keeps the search index up to date, and the wait a search makes for it.

The writer wakes it after every COMMIT (`changed`); it takes the new changes in, then merges
the index's segments a step at a time for as long as no new changes wait. Its SQLite work runs
without the GIL, so it mostly runs on the other core while the loop serves requests; at the
lowest CPU priority (`BACKGROUND_NICE`), so that it takes only the CPU they leave.

A search reads the number of the last change its own connection can see, and waits until the
index holds it (`caught_up`): a notification is found as soon as its POST was answered. The
wait is bounded: a search during the rebuild of a large index is answered 503, not held.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import threading
from pathlib import Path

import apsw

from pnotify.http import ServiceUnavailable
from pnotify.storage import search_index

log = logging.getLogger(__name__)

WAIT_SECONDS = 10.0
RETRY_SECONDS = 1.0  # after an error (a full disk, say): tried again, logged once
# After a COMMIT wakes it, the thread waits this long for more before it takes changes in,
# unless a search waits: fewer, larger transactions. Each is a dozen calls into SQLite, between
# which the thread needs the GIL the loop holds; taken in after every write batch, `make
# bench`'s POST load ran at ~4,800/s against ~6,000-6,500/s (a run each way). 0.25 s against
# 0.05, 2 runs of 6 interleaved rounds of POST: 27.3 % of hello-world's rate against 25.8, and
# 26.3 against 25.4 (9 of 12 rounds better); 1 s was no better and raised the POST p99 from
# ~7 to ~11 ms (each catch-up then holds the GIL longer). A search does not wait for it: a
# waiting search wakes the thread at once (`caught_up`).
GATHER_SECONDS = 0.25
# The thread's nice value. At the default it competed with the writer's helper thread (whose
# COMMIT answers the waiting requests) for the core the loop leaves: COMMITs that overlapped
# its work took 3-9 ms instead of ~0.6. At 19, in 4 interleaved pairs of POST runs (2 x 10 s
# each), 19-55 COMMITs a run took over 3 ms against 100-163, and the POST p99 was 8.9-13.7 ms
# against 11.9-18.4.
BACKGROUND_NICE = 19


class SearchIndexer:
    def __init__(self, database: Path, wait_seconds: float = WAIT_SECONDS) -> None:
        self._database = database
        self.wait_seconds = wait_seconds
        self._wake = threading.Event()
        self._now = threading.Event()  # a search waits (or the server stops): no gathering
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._conn: apsw.Connection | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.applied = 0  # the last change the index holds: set by the thread only
        self._forgotten = 0  # the writer's: changes up to here are gone from its database
        # Searches waiting (the loop's; the thread only asks whether there are any).
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []

    def start(self) -> None:
        """Open the index (quick: a rebuild, if one is due, runs in the thread) and start the
        thread. On the loop, before the reader attaches the index file."""
        conn, rebuild = search_index.open_index(self._database)
        self._conn = conn
        self.applied = 0 if rebuild else search_index.applied(conn)
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(
            target=self._run, args=(conn, rebuild), name="pnotify-search", daemon=True
        )
        self._wake.set()  # changes left by another program, or by the last run, go in first
        self._thread.start()

    def changed(self) -> None:
        """A transaction that may have changed notifications committed (any thread)."""
        # Under load the flag is mostly set already (the thread clears it after gathering,
        # then takes in all committed by then): `set` would take a lock and notify for
        # nothing, ~7 µs of the writer's helper thread a batch, with the GIL held.
        if not self._wake.is_set():
            self._wake.set()

    def forget_taken_in(self, conn: apsw.Connection) -> None:
        """The writer's part, in each batch's transaction: remove the changes the index now
        holds from the database's list."""
        if self.applied > self._forgotten:
            self._forgotten = search_index.forget_applied(conn, self.applied)

    async def stop(self) -> None:
        if self._thread is None:
            return
        self._stopping.set()
        self._now.set()
        self._wake.set()
        conn = self._conn
        if conn is not None:  # the thread may be closing it: then there is nothing to cut
            with contextlib.suppress(apsw.Error):
                conn.interrupt()  # a long rebuild is cut (rolled back): made again next start
        await asyncio.get_running_loop().run_in_executor(None, self._thread.join)
        self._thread = None

    def behind(self, reader: apsw.Connection) -> int:
        """How many changes `reader` can see that the index has still to take in (/metrics)."""
        return max(0, search_index.latest(reader) - self.applied)

    async def caught_up(self, reader: apsw.Connection) -> None:
        """Return once the index holds every change `reader` can see (a search's wait)."""
        target = search_index.latest(reader)
        if self.applied >= target:
            return
        assert self._loop is not None
        waiter = self._loop.create_future()
        self._waiters.append((target, waiter))
        self._now.set()
        self._wake.set()  # the changes may be another program's: no COMMIT of ours woke it
        if self.applied >= target:  # taken in between: the thread may not have seen the flag
            self._release()
        try:
            await asyncio.wait_for(waiter, self.wait_seconds)
        except TimeoutError:
            raise ServiceUnavailable(
                "the search index is still being brought up to date; try again shortly",
                code="search_index_behind",
                headers={"retry-after": "5"},
            ) from None
        finally:
            self._forget_waiter(waiter)

    def _forget_waiter(self, waiter: asyncio.Future[None]) -> None:
        self._waiters = [(target, w) for target, w in self._waiters if w is not waiter]

    def _release(self) -> None:
        """Wake the searches waiting for changes the index now holds (on the loop)."""
        for target, waiter in self._waiters:
            if target <= self.applied and not waiter.done():
                waiter.set_result(None)

    # --- the thread ---------------------------------------------------------------------

    def _run(self, conn: apsw.Connection, rebuild: bool) -> None:
        _lower_this_threads_priority()
        failure = ""
        try:
            while not self._stopping.is_set():
                self._wake.wait()
                self._now.wait(GATHER_SECONDS)
                self._wake.clear()
                self._now.clear()
                try:
                    if rebuild:
                        self._took_in(search_index.rebuild(conn))
                        rebuild = False
                    self._work(conn)
                    failure = ""
                except Exception as error:  # the thread goes on: the next wake tries again
                    if self._stopping.is_set():
                        break
                    if str(error) != failure:
                        log.error("bringing the search index up to date failed: %s", error)
                    failure = str(error)
                    self._wake.wait(RETRY_SECONDS)
                    self._wake.set()
        finally:
            self._conn = None
            conn.close()

    def _work(self, conn: apsw.Connection) -> None:
        search_index.catch_up(conn, self._took_in)
        # Merging while no new changes wait: they go in first, merging then goes on.
        while not self._wake.is_set() and search_index.merge_step(conn):
            pass

    def _took_in(self, last: int) -> None:
        self.applied = last
        if self._waiters and self._loop is not None:
            self._loop.call_soon_threadsafe(self._release)


def _lower_this_threads_priority() -> None:
    # Linux gives each thread a nice value of its own, set through its thread id; elsewhere
    # that id is not a process id, and the call is not made.
    if sys.platform == "linux":
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), BACKGROUND_NICE)
