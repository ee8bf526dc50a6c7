"""The read connection's time limit: no statement holds the event loop for long."""

from __future__ import annotations

import time

import apsw

# The progress handler runs every this many SQLite VM steps: a few microseconds apart.
PROGRESS_STEPS = 1_000


def limit_read_time(
    conn: apsw.Connection, milliseconds: float, steps: int = PROGRESS_STEPS
) -> None:
    """Interrupt any statement on `conn` that runs longer than `milliseconds`, checked every
    `steps` SQLite VM steps.

    Reads run inline on the event loop (measured fastest), so a slow one would hold every
    request and stream hostage. As datasette's `sqlite_timelimit` does, a progress handler
    checks the clock; the exec tracer notes when each statement starts (~0.4 µs a statement).
    A cut statement raises `apsw.InterruptError`, which the app answers with a 503.
    """
    limit = milliseconds / 1000
    started = [time.monotonic()]

    def statement_started(cursor: apsw.Cursor, sql: str, bindings: object) -> bool:
        started[0] = time.monotonic()
        return True  # go ahead with the statement

    def too_long() -> bool:
        return time.monotonic() - started[0] > limit

    conn.exec_trace = statement_started
    conn.set_progress_handler(too_long, steps)
