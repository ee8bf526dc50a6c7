"""READ_TIME_LIMIT_MS: a read that runs too long is cut with a 503, and the server goes on."""

from __future__ import annotations

import httpx
import pytest

from tests.serverproc import Account, ServerProcess

ROWS = 200_000


@pytest.fixture(scope="module")
def server_settings() -> dict[str, str]:
    return {"READ_TIME_LIMIT_MS": "1"}


@pytest.fixture(scope="module")
def crowded(server: ServerProcess) -> Account:
    """A user with many rows, written straight into the database in one statement."""
    account = server.account("crowded")
    conn = server.connect()
    try:
        with conn:
            conn.execute(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
                "INSERT INTO notifications (id, user_id, title, priority, status, created_at, "
                "cursor, created_cursor) "
                "SELECT printf('00000000-0000-7000-8000-%012d', i), ?, 'old', 'low', 'unread', "
                "1000000 + i, 0, 0 FROM n",
                (ROWS, account.user_id),
            )
    finally:
        conn.close()
    return account


def test_a_long_read_is_a_503_and_the_server_goes_on(
    client: httpx.Client, crowded: Account
) -> None:
    # `since` counts its matches over an index range: 200,000 of them take well over 1 ms.
    slow = client.get(
        "/api/notifications/", params={"since": "1970-01-01T00:00:00Z"}, headers=crowded.headers
    )
    assert slow.status_code == 503
    assert slow.json()["code"] == "read_timeout"
    quick = client.get("/api/notifications/", params={"limit": 1}, headers=crowded.headers)
    assert quick.status_code == 200
    assert quick.json()["total"] == ROWS
    assert client.get("/healthz").status_code == 200
