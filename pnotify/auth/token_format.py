"""API token format: `pn_<lookup id>_<secret>`.

The lookup id finds the row through a unique index; only bcrypt(secret) is stored. bcrypt is
salted, so a received token cannot be found by hashing it (the spec's idea) — the lookup id
is what makes a single indexed lookup possible. The `pn_` prefix lets secret scanners spot a
leaked token.
"""

from __future__ import annotations

import re
import secrets
import string
from dataclasses import dataclass

import bcrypt

LOOKUP_ID_LENGTH = 12
SECRET_BYTES = 32
_ALPHANUMERIC = string.ascii_letters + string.digits
_TOKEN = re.compile(r"pn_([A-Za-z0-9]{12})_([A-Za-z0-9_-]{43,128})")


@dataclass(frozen=True, slots=True)
class ParsedToken:
    lookup_id: str
    secret: str


def new_token() -> tuple[str, ParsedToken]:
    lookup_id = "".join(secrets.choice(_ALPHANUMERIC) for _ in range(LOOKUP_ID_LENGTH))
    secret = secrets.token_urlsafe(SECRET_BYTES)
    return f"pn_{lookup_id}_{secret}", ParsedToken(lookup_id, secret)


def parse_token(token: str) -> ParsedToken | None:
    match = _TOKEN.fullmatch(token)
    if match is None:
        return None
    return ParsedToken(match.group(1), match.group(2))


def hash_secret(secret: str, rounds: int) -> str:
    return bcrypt.hashpw(secret.encode(), bcrypt.gensalt(rounds)).decode()


def secret_matches(secret: str, token_hash: str) -> bool:
    return bcrypt.checkpw(secret.encode(), token_hash.encode())
