"""checkpoints.py: WAL checkpoints on their own thread, never inside the writer's COMMIT."""

from __future__ import annotations

from pathlib import Path

import apsw
import pytest

from pnotify import db
from pnotify.checkpoints import Checkpointer
from tests.serverproc import wait_for


@pytest.fixture
def path(tmp_path: Path) -> Path:
    path = tmp_path / "c.db"
    conn = db.connect(path)
    conn.execute("CREATE TABLE filler (data BLOB)")
    conn.close()
    return path


def _write_pages(conn: apsw.Connection, pages: int) -> None:
    """Commit transactions of about ten 4 KiB pages each until `pages` have been written."""
    for _ in range(pages // 10):
        with conn:
            conn.execute("INSERT INTO filler VALUES (randomblob(40000))")


def test_the_writer_never_checkpoints_in_its_commit(path: Path) -> None:
    writer = db.connect(path)
    checkpointer = Checkpointer(lambda: db.connect(path))
    checkpointer.take_over(writer)
    checkpointer.close()  # no thread: nobody checkpoints now
    _write_pages(writer, 1_500)
    # Past SQLite's automatic threshold (1,000 pages) and still growing: no COMMIT checkpointed.
    assert checkpointer._wal_pages > 1_400
    writer.close()


def test_the_thread_checkpoints_once_the_wal_passes_its_threshold(path: Path) -> None:
    writer = db.connect(path)
    checkpointer = Checkpointer(lambda: db.connect(path), pages=50)
    checkpointer.take_over(writer)
    try:
        _write_pages(writer, 30)
        assert checkpointer.checkpoints_total == 0  # below the threshold
        _write_pages(writer, 60)
        wait_for(lambda: checkpointer.checkpoints_total >= 1)

        def wal_started_over() -> bool:
            # Once a checkpoint has copied every frame, the next transaction starts the WAL
            # over; until then each commit asks the thread again.
            _write_pages(writer, 10)
            return checkpointer._wal_pages <= 12

        wait_for(wal_started_over)
    finally:
        checkpointer.close()
        writer.close()
