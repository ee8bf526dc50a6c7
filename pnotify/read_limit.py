"""The read connection's time limit: no statement holds the event loop for long."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import apsw

# The progress handler runs every this many SQLite VM steps: a few microseconds apart.
PROGRESS_STEPS = 1_000


class ReadTimeLimit:
    """Interrupts any statement on its connection that runs longer than the limit, checked
    every `steps` SQLite VM steps (`limit_read_time`)."""

    def __init__(self, conn: apsw.Connection, milliseconds: float, steps: int) -> None:
        self._seconds = milliseconds / 1000
        self._started = time.monotonic()
        conn.exec_trace = self._statement_started
        conn.set_progress_handler(self._too_long, steps)

    def _statement_started(self, cursor: apsw.Cursor, sql: str, bindings: object) -> bool:
        self._started = time.monotonic()
        return True  # go ahead with the statement

    def _too_long(self) -> bool:
        return time.monotonic() - self._started > self._seconds

    @contextlib.contextmanager
    def at_most(self, milliseconds: float) -> Iterator[None]:
        """A lower limit for the statements run meanwhile (search_reads.py); never a higher."""
        seconds = self._seconds
        self._seconds = min(seconds, milliseconds / 1000)
        try:
            yield
        finally:
            self._seconds = seconds


def limit_read_time(
    conn: apsw.Connection, milliseconds: float, steps: int = PROGRESS_STEPS
) -> ReadTimeLimit:
    """Interrupt any statement on `conn` that runs longer than `milliseconds`.

    Reads run inline on the event loop (measured fastest), so a slow one would hold every
    request and stream hostage. As datasette's `sqlite_timelimit` does, a progress handler
    checks the clock; the exec tracer notes when each statement starts (~0.4 µs a statement).
    A cut statement raises `apsw.InterruptError`, which the app answers with a 503.
    """
    return ReadTimeLimit(conn, milliseconds, steps)
