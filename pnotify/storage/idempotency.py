"""Idempotency-Key: the first answer to a POST, kept per token, so that a retry gets the same
answer and creates nothing. Kept at least a day (retention purges them after two)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import apsw

KEEP_SECONDS = 2 * 86_400


@dataclass(frozen=True, slots=True)
class Remembered:
    request_hash: str
    status: int
    body: bytes
    headers: list[tuple[str, str]]


def find(conn: apsw.Connection, token_id: str, key: str) -> Remembered | None:
    row = conn.execute(
        "SELECT request_hash, status, body, headers FROM idempotent_requests "
        "WHERE token_id = ? AND key = ?",
        (token_id, key),
    ).fetchone()
    if row is None:
        return None
    request_hash, status, body, headers = row
    return Remembered(
        str(request_hash),
        int(status),
        bytes(body),
        [(str(k), str(v)) for k, v in json.loads(str(headers))],
    )


def remember(conn: apsw.Connection, token_id: str, key: str, answer: Remembered, now: int) -> None:
    conn.execute(
        "INSERT INTO idempotent_requests (token_id, key, request_hash, status, body, headers, "
        "created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            token_id,
            key,
            answer.request_hash,
            answer.status,
            answer.body,
            json.dumps(answer.headers),
            now,
        ),
    )


def purge(conn: apsw.Connection, before: int) -> None:
    conn.execute("DELETE FROM idempotent_requests WHERE created_at < ?", (before,))
