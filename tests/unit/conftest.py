"""Fixtures the unit tests share."""

from __future__ import annotations

from pathlib import Path

import pytest

from pnotify import db
from pnotify.storage import users


@pytest.fixture
def database(tmp_path: Path) -> Path:
    """A migrated database file holding one local user, ("local", "u1")."""
    path = tmp_path / "unit.db"
    conn = db.open_and_migrate(path)
    users.upsert(conn, "local", "u1", "", "", login=False)
    conn.close()
    return path


@pytest.fixture
def user_id(database: Path) -> str:
    """The id of `database`'s user."""
    conn = db.connect(database)
    try:
        user = users.find(conn, "local", "u1")
        assert user is not None
        return user.id
    finally:
        conn.close()
