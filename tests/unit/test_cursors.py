"""changes.Cursors: the change cursors kept in memory, beside a real writer and database."""

from __future__ import annotations

from pathlib import Path

import apsw
import pytest

from pnotify import db
from pnotify.changes import Cursors
from pnotify.storage import notification_writes as writes
from pnotify.storage import notifications as store
from pnotify.storage import replay, users
from pnotify.writer import Writer

pytestmark = pytest.mark.anyio

NEW = store.NewNotification("hello", None, "low", None, None)
# What a purge of tombstones does (retention.py): later cursors only are replayable exactly.
RAISE_REPLAYABLE = "UPDATE server_state SET value = max(value, ?) WHERE key = 'replayable_after'"


async def test_cursors_follow_what_the_writer_commits(database: Path) -> None:
    reader = db.connect(database)
    read_by: list[apsw.Connection] = []

    def read(conn: apsw.Connection) -> tuple[int, int]:
        read_by.append(conn)
        return replay.current_cursor(conn)

    cursors = Cursors(read, reader)
    assert (cursors.current, cursors.replayable_after) == (0, 0)
    writer = Writer(
        database, "NORMAL", on_commit=cursors.published, before_commit=cursors.before_commit
    )
    writer.start()
    try:
        user = users.find(reader, "local", "u1")
        assert user is not None
        read_by.clear()  # at start: the reader's, and the writer's first before_commit
        created = [await writer.run(lambda ctx: writes.create(ctx, user.id, NEW)) for _ in "ab"]
        # Known when the request is answered, without a query: the last change handed over.
        assert cursors.current == created[-1].cursor == replay.current_cursor(reader)[0]
        assert read_by == []  # batches that only added rows: nothing to read
        await writer.run(lambda ctx: ctx.conn.execute(RAISE_REPLAYABLE, (created[0].cursor,)))
        assert cursors.replayable_after == created[0].cursor
        assert len(read_by) == 1  # a job that used the connection: read in its transaction
        assert cursors.for_client(None) == (created[-1].cursor, created[0].cursor)
    finally:
        await writer.close()
        reader.close()
    # A fresh server starts from what is stored.
    again = db.connect(database)
    try:
        restarted = Cursors(replay.current_cursor, again)
        assert (restarted.current, restarted.replayable_after) == (
            created[-1].cursor,
            created[0].cursor,
        )
    finally:
        again.close()


def test_a_client_past_the_published_cursor_gets_the_databases(database: Path) -> None:
    reader = db.connect(database)
    cursors = Cursors(replay.current_cursor, reader)
    other = db.connect(database)
    try:
        # Committed, not handed over yet (the writer's answer is on its way): only the database
        # knows, and a client that already read such a change must not be told it is from the
        # future.
        other.execute("UPDATE server_state SET value = 7 WHERE key = 'change_cursor'")
        assert cursors.for_client(5) == (7, 0)
        assert cursors.for_client(None) == cursors.for_client(0) == (0, 0)  # no query
    finally:
        other.close()
        reader.close()
