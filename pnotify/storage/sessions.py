"""Server-side browser sessions and local-mode sign-in links.

Only hashes of the random ids are stored: a copy of the database does not let anyone sign in.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

import apsw

from pnotify.clock import SECOND_US, now_us

LOGIN_LINK_TTL_SECONDS = 600


def _hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Session:
    id: str  # the stored hash; safe to log and to key streams by
    user_id: str
    expires_at: int
    id_token: str | None


def create(conn: apsw.Connection, user_id: str, ttl_seconds: int, id_token: str | None) -> str:
    """Start a session; returns the raw id for the cookie (never stored)."""
    raw = secrets.token_urlsafe(32)
    now = now_us()
    conn.execute(
        "INSERT INTO sessions (id, user_id, created_at, expires_at, id_token) "
        "VALUES (?, ?, ?, ?, ?)",
        (_hash(raw), user_id, now, now + ttl_seconds * SECOND_US, id_token),
    )
    return raw


def get(conn: apsw.Connection, raw_id: str) -> Session | None:
    row = conn.execute(
        "SELECT id, user_id, expires_at, id_token FROM sessions WHERE id = ? AND expires_at > ?",
        (_hash(raw_id), now_us()),
    ).fetchone()
    if row is None:
        return None
    session_id, user_id, expires_at, id_token = row
    return Session(
        str(session_id),
        str(user_id),
        int(expires_at),
        None if id_token is None else str(id_token),
    )


def delete(conn: apsw.Connection, session_id: str) -> str | None:
    """End a session; returns its OIDC ID token (for the provider's sign-out), if it had one."""
    row = conn.execute(
        "DELETE FROM sessions WHERE id = ? RETURNING id_token", (session_id,)
    ).fetchone()
    return None if row is None or row[0] is None else str(row[0])


def purge_expired(conn: apsw.Connection) -> None:
    now = now_us()
    conn.execute("DELETE FROM sessions WHERE expires_at <= ?", (now,))
    conn.execute("DELETE FROM login_links WHERE expires_at <= ?", (now,))


def create_login_link_code(conn: apsw.Connection, ttl_seconds: int = LOGIN_LINK_TTL_SECONDS) -> str:
    code = secrets.token_urlsafe(32)
    conn.execute(
        "INSERT INTO login_links (code_hash, expires_at) VALUES (?, ?)",
        (_hash(code), now_us() + ttl_seconds * SECOND_US),
    )
    return code


def consume_login_link_code(conn: apsw.Connection, code: str) -> bool:
    """True once for a valid, unexpired code; the code is gone afterwards either way."""
    rows = conn.execute(
        "DELETE FROM login_links WHERE code_hash = ? RETURNING expires_at", (_hash(code),)
    ).fetchall()
    return bool(rows) and int(rows[0][0]) > now_us()  # type: ignore[arg-type]
