"""auth/bearer.py: the token authenticator against a real database."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import apsw
import pytest

from pnotify import db
from pnotify.auth.bearer import MAX_FAILURES_PER_WINDOW, TokenAuthenticator
from pnotify.clock import now_us
from pnotify.http import TooManyRequests, Unauthorized
from pnotify.storage import client_tokens as token_store
from pnotify.storage import users

pytestmark = pytest.mark.anyio
KEY = b"k" * 32


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[apsw.Connection]:
    connection = db.open_and_migrate(tmp_path / "t.db")
    yield connection
    connection.close()


def _token(conn: apsw.Connection, **options: object) -> token_store.NewToken:
    user = users.local_user(conn)
    return token_store.create(conn, user.id, "test", rounds=4, **options)  # type: ignore[arg-type]


async def test_a_valid_token_gives_its_principal_and_is_noted_as_used(
    conn: apsw.Connection,
) -> None:
    new = _token(conn, scope="publish")
    authenticator = TokenAuthenticator(conn, KEY)
    for _ in range(2):  # the second time from the verified cache
        principal = await authenticator.authenticate(new.plaintext)
        assert (principal.user_id, principal.scope, principal.token_id) == (
            new.row.user_id,
            "publish",
            new.row.id,
        )
    assert set(authenticator.take_last_used()) == {new.row.id}
    assert authenticator.take_last_used() == {}  # handed over once


async def test_revocation_wins_over_the_cache(conn: apsw.Connection) -> None:
    new = _token(conn)
    authenticator = TokenAuthenticator(conn, KEY)
    await authenticator.authenticate(new.plaintext)
    with conn:
        token_store.revoke(conn, new.row.user_id, new.row.id)
    with pytest.raises(Unauthorized) as caught:
        await authenticator.authenticate(new.plaintext)
    assert caught.value.code == "invalid_token"


async def test_expired_token_says_so(conn: apsw.Connection) -> None:
    new = _token(conn, expires_at=now_us() - 1)
    with pytest.raises(Unauthorized) as caught:
        await TokenAuthenticator(conn, KEY).authenticate(new.plaintext)
    assert caught.value.code == "token_expired"


@pytest.mark.parametrize("token", ["pn_short", "not a token", "pn_abcdefghijkl_" + "a" * 43])
async def test_malformed_or_unknown_tokens_are_refused(conn: apsw.Connection, token: str) -> None:
    authenticator = TokenAuthenticator(conn, KEY)
    with pytest.raises(Unauthorized) as caught:
        await authenticator.authenticate(token)
    assert caught.value.code == "invalid_token"
    assert authenticator.failures_total == 1


def _wrong(token: str) -> str:
    return token[:-4] + ("aaaa" if not token.endswith("aaaa") else "bbbb")


async def test_wrong_secrets_are_limited_per_address(conn: apsw.Connection) -> None:
    new = _token(conn)
    authenticator = TokenAuthenticator(conn, KEY)
    for _ in range(MAX_FAILURES_PER_WINDOW):
        with pytest.raises(Unauthorized):
            await authenticator.authenticate(_wrong(new.plaintext), "10.0.0.1")
    with pytest.raises(TooManyRequests) as caught:
        await authenticator.authenticate(_wrong(new.plaintext), "10.0.0.1")
    assert int(caught.value.headers["retry-after"]) > 0
    # The holder of the right secret, from another address, gets in — bcrypt and all.
    principal = await authenticator.authenticate(new.plaintext, "10.0.0.2")
    assert principal.token_id == new.row.id
    # Once remembered, the right secret passes even from the limited address.
    assert (await authenticator.authenticate(new.plaintext, "10.0.0.1")).token_id == new.row.id


async def test_one_bcrypt_check_for_concurrent_first_requests(conn: apsw.Connection) -> None:
    new = _token(conn)
    authenticator = TokenAuthenticator(conn, KEY)
    principals = await asyncio.gather(
        *(authenticator.authenticate(new.plaintext, "10.0.0.1") for _ in range(10))
    )
    assert {p.token_id for p in principals} == {new.row.id}
    assert authenticator.bcrypt_checks_total == 1  # the others waited and found it remembered


async def test_concurrent_guesses_spend_at_most_the_budget(conn: apsw.Connection) -> None:
    new = _token(conn)
    authenticator = TokenAuthenticator(conn, KEY)
    outcomes = await asyncio.gather(
        *(authenticator.authenticate(_wrong(new.plaintext), "10.0.0.9") for _ in range(40)),
        return_exceptions=True,
    )
    assert all(isinstance(o, Unauthorized | TooManyRequests) for o in outcomes)
    # Checked one at a time for this lookup id, so the address's budget holds exactly.
    assert authenticator.bcrypt_checks_total == MAX_FAILURES_PER_WINDOW
    assert sum(isinstance(o, TooManyRequests) for o in outcomes) == 40 - MAX_FAILURES_PER_WINDOW


async def next_turn() -> None:
    """Return in the event loop's next turn (a callback queued now runs then)."""
    turned = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().call_soon(turned.set_result, None)
    await turned


async def test_the_row_is_read_once_a_turn_and_again_in_the_next(conn: apsw.Connection) -> None:
    new = _token(conn)
    authenticator = TokenAuthenticator(conn, KEY)
    await authenticator.authenticate(new.plaintext)  # verified (bcrypt) and remembered
    reads: list[str] = []

    def trace(cursor: apsw.Cursor, sql: str, bindings: object) -> bool:
        if "FROM client_tokens" in sql:
            reads.append(sql)
        return True

    conn.exec_trace = trace
    await next_turn()
    # Requests that arrived together are checked in one turn: one read of the row.
    await asyncio.gather(*(authenticator.authenticate(new.plaintext) for _ in range(5)))
    assert len(reads) == 1
    # Revoked by another connection (say the CLI) after that read: the next turn reads again.
    await next_turn()
    other = db.connect(Path(conn.filename))
    with other:
        token_store.revoke(other, new.row.user_id, new.row.id)
    other.close()
    with pytest.raises(Unauthorized):
        await authenticator.authenticate(new.plaintext)
    assert len(reads) == 2
