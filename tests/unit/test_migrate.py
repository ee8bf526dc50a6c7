"""The migrator: order, bookkeeping, and its refusals (which must change nothing)."""

from __future__ import annotations

from pathlib import Path

import apsw
import pytest

from pnotify import db, migrate


def _write(directory: Path, name: str, sql: str) -> None:
    directory.mkdir(exist_ok=True)
    (directory / name).write_text(sql)


def _tables(conn: apsw.Connection) -> set[str]:
    rows = conn.execute("SELECT name FROM sqlite_schema WHERE type = 'table'")
    return {str(name) for (name,) in rows}


@pytest.fixture
def sql_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "sql"
    _write(directory, "0001_first.sql", "CREATE TABLE a (x INTEGER);")
    _write(directory, "0002_second.sql", "CREATE TABLE b (y INTEGER); INSERT INTO a VALUES (1);")
    return directory


@pytest.fixture
def conn(tmp_path: Path) -> apsw.Connection:
    return db.connect(tmp_path / "test.db")


def test_applies_in_order_once(conn: apsw.Connection, sql_dir: Path) -> None:
    applied = migrate.migrate(conn, migrate.load_migrations(sql_dir))
    assert [m.version for m in applied] == [1, 2]
    assert {"a", "b", "schema_migrations"} <= _tables(conn)
    assert migrate.migrate(conn, migrate.load_migrations(sql_dir)) == []
    assert conn.execute("SELECT count(*) FROM a").fetchall() == [(1,)]
    assert conn.pragma("user_version") == 2


def test_failed_migration_leaves_no_trace(conn: apsw.Connection, sql_dir: Path) -> None:
    _write(
        sql_dir, "0003_broken.sql", "CREATE TABLE c (z INTEGER); INSERT INTO nowhere VALUES (1);"
    )
    with pytest.raises(apsw.SQLError):
        migrate.migrate(conn, migrate.load_migrations(sql_dir))
    assert "c" not in _tables(conn)
    versions = conn.execute("SELECT version FROM schema_migrations ORDER BY version").fetchall()
    assert versions == [(1,), (2,)]


def test_refuses_edited_migration(conn: apsw.Connection, sql_dir: Path) -> None:
    migrate.migrate(conn, migrate.load_migrations(sql_dir))
    _write(sql_dir, "0001_first.sql", "CREATE TABLE a (x INTEGER, extra TEXT);")
    _write(sql_dir, "0003_third.sql", "CREATE TABLE c (z INTEGER);")
    with pytest.raises(migrate.MigrationError, match=r"0001_first\.sql was edited"):
        migrate.migrate(conn, migrate.load_migrations(sql_dir))
    assert "c" not in _tables(conn)


def test_refuses_missing_migration(conn: apsw.Connection, sql_dir: Path) -> None:
    _write(sql_dir, "0003_third.sql", "CREATE TABLE c (z INTEGER);")
    migrate.migrate(conn, migrate.load_migrations(sql_dir))
    (sql_dir / "0002_second.sql").unlink()
    with pytest.raises(migrate.MigrationError, match=r"0002_second\.sql is missing"):
        migrate.migrate(conn, migrate.load_migrations(sql_dir))


def test_refuses_database_newer_than_code(conn: apsw.Connection, sql_dir: Path) -> None:
    _write(sql_dir, "0003_third.sql", "CREATE TABLE c (z INTEGER);")
    migrate.migrate(conn, migrate.load_migrations(sql_dir))
    (sql_dir / "0003_third.sql").unlink()
    with pytest.raises(migrate.MigrationError, match="newer than this code"):
        migrate.migrate(conn, migrate.load_migrations(sql_dir))


def test_file_names_are_checked(tmp_path: Path) -> None:
    directory = tmp_path / "sql"
    _write(directory, "1_bad.sql", "SELECT 1;")
    with pytest.raises(migrate.MigrationError, match=r"NNNN_name\.sql"):
        migrate.load_migrations(directory)
    (directory / "1_bad.sql").unlink()
    _write(directory, "0001_a.sql", "SELECT 1;")
    _write(directory, "0001_b.sql", "SELECT 1;")
    with pytest.raises(migrate.MigrationError, match="used twice"):
        migrate.load_migrations(directory)


def test_next_migration_path(sql_dir: Path) -> None:
    assert (
        migrate.next_migration_path("Add token notes!", sql_dir).name == "0003_add_token_notes.sql"
    )


def test_project_migrations_apply_cleanly(conn: apsw.Connection) -> None:
    migrate.migrate(conn)
    assert {
        "users",
        "notifications",
        "tombstones",
        "client_tokens",
        "notification_counts",
    } <= _tables(conn)
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
