"""Users, keyed by (issuer, sub). Local mode has one user with issuer `local`."""

from __future__ import annotations

from dataclasses import dataclass

import apsw

from pnotify.clock import now_us
from pnotify.ids import uuid7

LOCAL_ISSUER = "local"
LOCAL_SUB = "local"


@dataclass(frozen=True, slots=True)
class User:
    id: str
    issuer: str
    sub: str
    email: str
    name: str
    created_at: int
    last_login_at: int | None


_SELECT = "SELECT id, issuer, sub, email, name, created_at, last_login_at FROM users"


def _user(row: tuple[object, ...]) -> User:
    return User(*row)  # type: ignore[arg-type]


def get(conn: apsw.Connection, user_id: str) -> User | None:
    row = conn.execute(_SELECT + " WHERE id = ?", (user_id,)).fetchone()
    return _user(row) if row else None


def find(conn: apsw.Connection, issuer: str, sub: str) -> User | None:
    row = conn.execute(_SELECT + " WHERE issuer = ? AND sub = ?", (issuer, sub)).fetchone()
    return _user(row) if row else None


def find_by_email(conn: apsw.Connection, email: str) -> list[User]:
    rows = conn.execute(_SELECT + " WHERE email = ? ORDER BY created_at", (email,))
    return [_user(row) for row in rows]


def upsert(
    conn: apsw.Connection, issuer: str, sub: str, email: str, name: str, *, login: bool
) -> User:
    """Create the user on first sight; refresh e-mail and name (and the login time) after."""
    now = now_us()
    with conn:
        conn.execute(
            "INSERT INTO users (id, issuer, sub, email, name, created_at, last_login_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (issuer, sub) DO UPDATE SET email = excluded.email, name = excluded.name, "
            "last_login_at = coalesce(excluded.last_login_at, users.last_login_at)",
            (uuid7(), issuer, sub, email, name, now, now if login else None),
        )
        user = find(conn, issuer, sub)
    assert user is not None
    return user


def local_user(conn: apsw.Connection) -> User:
    existing = find(conn, LOCAL_ISSUER, LOCAL_SUB)
    if existing is not None:
        return existing
    return upsert(conn, LOCAL_ISSUER, LOCAL_SUB, "", "Local user", login=False)
