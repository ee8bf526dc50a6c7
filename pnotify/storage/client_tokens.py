"""Client tokens. The secret's bcrypt hash is stored; the plaintext never is."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

import apsw

from pnotify.auth.token_format import hash_secret, new_token
from pnotify.clock import DAY_US, now_us, to_iso, to_iso_or_none
from pnotify.ids import uuid7

DEVICE_TYPES = ("android", "gnome", "other")
SCOPES = ("publish", "full")
NAME_MAX = 100
EXPIRY_DAYS_MAX = 3650


class TokenRuleError(ValueError):
    """A token's name or lifetime breaks the rules; the message says which and why."""


def checked_name(name: str) -> str:
    """The rules every way of minting a token shares (API and CLI): the name, stripped."""
    stripped = name.strip()
    if not stripped or len(name) > NAME_MAX:
        raise TokenRuleError(f"must be 1 to {NAME_MAX} characters")
    return stripped


def expiry_after_days(days: int | None, now: int) -> int | None:
    if days is None:
        return None
    if not 1 <= days <= EXPIRY_DAYS_MAX:
        raise TokenRuleError(f"must be between 1 and {EXPIRY_DAYS_MAX} days")
    return now + days * DAY_US


@dataclass(frozen=True, slots=True)
class ClientToken:
    id: str
    user_id: str
    lookup_id: str
    token_hash: str
    name: str
    device_type: str
    scope: str
    last_used_at: int | None
    created_at: int
    expires_at: int | None

    def to_json(self) -> dict[str, Any]:
        """The public view: never the secret, never its hash."""
        return {
            "id": self.id,
            "name": self.name,
            "device_type": self.device_type,
            "scope": self.scope,
            "prefix": f"pn_{self.lookup_id}_",
            "last_used_at": to_iso_or_none(self.last_used_at),
            "created_at": to_iso(self.created_at),
            "expires_at": to_iso_or_none(self.expires_at),
        }


_SELECT = (
    "SELECT id, user_id, lookup_id, token_hash, name, device_type, scope, last_used_at, "
    "created_at, expires_at FROM client_tokens"
)


def _token(row: tuple[Any, ...]) -> ClientToken:
    return ClientToken(*row)


@dataclass(frozen=True, slots=True)
class NewToken:
    """A hashed token ready to insert, and its plaintext to show once."""

    row: ClientToken
    plaintext: str


def prepare(
    user_id: str, name: str, device_type: str, scope: str, expires_at: int | None, rounds: int
) -> NewToken:
    """Mint and hash a token. Slow (bcrypt): callers on the event loop run it in a thread."""
    plaintext, parsed = new_token()
    row = ClientToken(
        id=uuid7(),
        user_id=user_id,
        lookup_id=parsed.lookup_id,
        token_hash=hash_secret(parsed.secret, rounds),
        name=name,
        device_type=device_type,
        scope=scope,
        last_used_at=None,
        created_at=now_us(),
        expires_at=expires_at,
    )
    return NewToken(row, plaintext)


def insert(conn: apsw.Connection, token: ClientToken) -> None:
    conn.execute(
        "INSERT INTO client_tokens (id, user_id, lookup_id, token_hash, name, device_type, scope, "
        "last_used_at, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            token.id,
            token.user_id,
            token.lookup_id,
            token.token_hash,
            token.name,
            token.device_type,
            token.scope,
            token.last_used_at,
            token.created_at,
            token.expires_at,
        ),
    )


def create(
    conn: apsw.Connection,
    user_id: str,
    name: str,
    *,
    device_type: str = "other",
    scope: str = "full",
    expires_at: int | None = None,
    rounds: int = 12,
) -> NewToken:
    """Mint, hash and store a token in one go (CLI and tests; the server splits the steps)."""
    new = prepare(user_id, name, device_type, scope, expires_at, rounds)
    with conn:
        insert(conn, new.row)
    return new


class Credentials(NamedTuple):
    """What checking a presented token needs, and no more: read on every request."""

    id: str
    user_id: str
    token_hash: str
    scope: str
    expires_at: int | None


def credentials(conn: apsw.Connection, lookup_id: str) -> Credentials | None:
    row = conn.execute(
        "SELECT id, user_id, token_hash, scope, expires_at FROM client_tokens WHERE lookup_id = ?",
        (lookup_id,),
    ).fetchone()
    return Credentials(*row) if row else None


def list_for_user(conn: apsw.Connection, user_id: str) -> list[ClientToken]:
    rows = conn.execute(_SELECT + " WHERE user_id = ? ORDER BY created_at DESC", (user_id,))
    return [_token(row) for row in rows]


def get(conn: apsw.Connection, user_id: str, token_id: str) -> ClientToken | None:
    row = conn.execute(_SELECT + " WHERE id = ? AND user_id = ?", (token_id, user_id)).fetchone()
    return _token(row) if row else None


def revoke(conn: apsw.Connection, user_id: str, token_id: str) -> bool:
    rows = conn.execute(
        "DELETE FROM client_tokens WHERE id = ? AND user_id = ? RETURNING id", (token_id, user_id)
    ).fetchall()
    return bool(rows)


def unusable(conn: apsw.Connection, token_ids: Iterable[str]) -> list[str]:
    """Those of the given tokens that were revoked (their row is gone) or have expired."""
    wanted = json.dumps(sorted(token_ids))
    rows = conn.execute(
        "SELECT value FROM json_each(?) WHERE value NOT IN "
        "(SELECT id FROM client_tokens WHERE expires_at IS NULL OR expires_at > ?)",
        (wanted, now_us()),
    )
    return [str(value) for (value,) in rows]


def record_last_used(conn: apsw.Connection, uses: Iterable[tuple[str, int]]) -> None:
    conn.executemany(
        "UPDATE client_tokens SET last_used_at = max(coalesce(last_used_at, 0), ?) WHERE id = ?",
        [(used_at, token_id) for token_id, used_at in uses],
    )
