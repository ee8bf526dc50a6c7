"""A small migrator for numbered `.sql` files (`sql/0001_init.sql`, `sql/0002_…`).

Each file runs once, in order, in one transaction together with its bookkeeping row. Before
anything is applied the database is checked against the files: an applied file that was edited
(checksum), an applied file that is gone, or a database newer than this code is refused with a
clear message and nothing changes.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib.resources.abc import Traversable
from pathlib import Path

import apsw

from pnotify import resources
from pnotify.clock import now_us

_FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

_BOOKKEEPING = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    checksum   TEXT NOT NULL,
    applied_at INTEGER NOT NULL
) STRICT
"""


class MigrationError(Exception):
    """The database and the migration files disagree; nothing was changed."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()

    @property
    def file_name(self) -> str:
        return f"{self.version:04d}_{self.name}.sql"


def load_migrations(directory: Traversable | None = None) -> list[Migration]:
    """The numbered files of `directory`, by default the package's own sql/."""
    folder = directory if directory is not None else resources.folder("sql")
    migrations: dict[int, Migration] = {}
    files = (entry for entry in folder.iterdir() if entry.name.endswith(".sql"))
    for path in sorted(files, key=lambda entry: entry.name):
        match = _FILE_NAME.match(path.name)
        if not match:
            raise MigrationError(f"{path.name}: migration files must be named NNNN_name.sql")
        version = int(match.group(1))
        if version in migrations:
            raise MigrationError(f"{path.name}: version {version:04d} is used twice")
        migrations[version] = Migration(version, match.group(2), path.read_text())
    return [migrations[v] for v in sorted(migrations)]


def next_migration_path(name: str, directory: Path | None = None) -> Path:
    """The path of the next numbered migration file, for `make db-revision NAME=…` (in a
    checkout: the package's sql/ is then the repository's top-level folder)."""
    directory = directory if directory is not None else Path(str(resources.folder("sql")))
    slug = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
    if not slug:
        raise MigrationError("a migration needs a name made of letters or digits")
    existing = load_migrations(directory)
    version = existing[-1].version + 1 if existing else 1
    return directory / f"{version:04d}_{slug}.sql"


def _applied(conn: apsw.Connection) -> dict[int, tuple[str, str]]:
    rows = conn.execute("SELECT version, name, checksum FROM schema_migrations")
    return {int(version): (str(name), str(checksum)) for version, name, checksum in rows}


def check(conn: apsw.Connection, migrations: list[Migration]) -> list[Migration]:
    """Refuse a database that disagrees with the files; return the pending migrations."""
    by_version = {m.version: m for m in migrations}
    applied = _applied(conn)
    latest = migrations[-1].version if migrations else 0
    for version, (name, checksum) in sorted(applied.items()):
        file_name = f"{version:04d}_{name}.sql"
        if version > latest:
            raise MigrationError(
                f"the database has migration {file_name}, newer than this code knows "
                f"(latest {latest:04d}); upgrade priority-notify or restore a backup"
            )
        migration = by_version.get(version)
        if migration is None or migration.name != name:
            raise MigrationError(f"applied migration {file_name} is missing from sql/")
        if migration.checksum != checksum:
            raise MigrationError(
                f"applied migration {file_name} was edited after it ran; "
                "add a new migration instead of changing an old one"
            )
    return [m for m in migrations if m.version not in applied]


def migrate(conn: apsw.Connection, migrations: list[Migration] | None = None) -> list[Migration]:
    """Apply every pending migration; return the ones applied."""
    if migrations is None:
        migrations = load_migrations()
    with conn:
        conn.execute(_BOOKKEEPING)
    pending = check(conn, migrations)
    done: list[Migration] = []
    for migration in pending:
        with conn:
            # Another process may have applied it since the check; the write lock settles it.
            already = conn.execute(
                "SELECT 1 FROM schema_migrations WHERE version = ?", (migration.version,)
            ).fetchall()
            if already:
                continue
            conn.execute(migration.sql)
            conn.execute(
                "INSERT INTO schema_migrations (version, name, checksum, applied_at) "
                "VALUES (?, ?, ?, ?)",
                (migration.version, migration.name, migration.checksum, now_us()),
            )
            conn.pragma("user_version", migration.version)
        done.append(migration)
    return done
