"""checkpoints.py: WAL checkpoints asked for by the writer's WAL hook, never inside a COMMIT,
run between the writer's transactions so that the WAL starts over."""

from __future__ import annotations

from pathlib import Path

import apsw
import pytest

from pnotify import db
from pnotify.checkpoints import CAP_PAGES, PAGES, Checkpointer


@pytest.fixture
def path(tmp_path: Path) -> Path:
    path = tmp_path / "c.db"
    conn = db.connect(path)
    conn.execute("CREATE TABLE filler (data BLOB)")
    conn.close()
    return path


def _watched(
    path: Path, pages: int, cap_pages: int = CAP_PAGES
) -> tuple[apsw.Connection, Checkpointer]:
    """A writer's connection, and the checkpointer that took it over."""
    writer = db.connect(path)
    checkpointer = Checkpointer(pages=pages, cap_pages=cap_pages)
    checkpointer.take_over(writer, lambda: db.connect(path))
    return writer, checkpointer


def _due(checkpointer: Checkpointer) -> bool:
    return checkpointer.due  # a call: the answer changes with every commit


def _copying_due(checkpointer: Checkpointer) -> bool:
    return checkpointer.copying_due


def _write_pages(conn: apsw.Connection, pages: int) -> None:
    """Commit transactions of about ten 4 KiB pages each until `pages` have been written."""
    for _ in range(pages // 10):
        with conn:
            conn.execute("INSERT INTO filler VALUES (randomblob(40000))")


def _copy(checkpointer: Checkpointer) -> None:
    assert _copying_due(checkpointer)
    checkpointer.start_copying()
    assert not _copying_due(checkpointer)  # not twice at once
    checkpointer.finish_copying()


def test_the_writer_never_checkpoints_in_its_commit(path: Path) -> None:
    writer, checkpointer = _watched(path, PAGES)
    _write_pages(writer, 1_500)
    # Past SQLite's automatic threshold (1,000 pages) and still growing: no COMMIT checkpointed.
    assert checkpointer.wal_pages > 1_400
    assert _copying_due(checkpointer)
    assert not _due(checkpointer)  # nothing for the writer to do until the bulk is copied
    checkpointer.close()
    writer.close()


def test_copied_beside_and_finished_between_transactions_the_wal_starts_over(path: Path) -> None:
    writer, checkpointer = _watched(path, 50)
    _write_pages(writer, 30)
    assert not _copying_due(checkpointer)  # below the threshold
    _write_pages(writer, 30)
    _copy(checkpointer)
    assert checkpointer.checkpoints_total == 0  # the WAL cannot start over yet: the writer's turn
    _write_pages(writer, 20)  # committed meanwhile: the writer copies these
    assert _due(checkpointer)
    checkpointer.checkpoint(writer)
    assert checkpointer.checkpoints_total == 1
    _write_pages(writer, 10)  # every frame was copied: this transaction starts the WAL over
    assert checkpointer.wal_pages <= 12
    assert not _due(checkpointer)
    assert not _copying_due(checkpointer)
    checkpointer.close()
    writer.close()


def test_a_reader_that_holds_the_wal_defers_the_next_try(path: Path) -> None:
    writer, checkpointer = _watched(path, 50)
    _write_pages(writer, 60)
    reader = db.connect(path)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM filler").fetchall()  # a snapshot in the WAL
    try:
        _copy(checkpointer)
        checkpointer.checkpoint(writer)
        _write_pages(writer, 10)
        assert checkpointer.wal_pages > 60  # could not start over
        assert not _copying_due(checkpointer)  # nor is it asked again at every commit
        assert not _due(checkpointer)
        _write_pages(writer, 50)
        assert _copying_due(checkpointer)  # but again after as many pages as the threshold
    finally:
        reader.execute("COMMIT")
        reader.close()
        checkpointer.close()
        writer.close()


def test_past_the_cap_the_writer_restarts_the_wal_between_transactions(path: Path) -> None:
    writer, checkpointer = _watched(path, 50, cap_pages=100)
    _write_pages(writer, 110)  # no copy ran (say it could not keep up): the cap bounds the WAL
    assert _due(checkpointer)
    checkpointer.checkpoint(writer)
    _write_pages(writer, 10)
    assert checkpointer.wal_pages <= 12
    checkpointer.close()
    writer.close()
