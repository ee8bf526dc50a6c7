"""auth/bearer.py: the token authenticator against a real database."""

from __future__ import annotations

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


async def test_repeated_wrong_secrets_are_limited(conn: apsw.Connection) -> None:
    new = _token(conn)
    wrong = new.plaintext[:-4] + ("aaaa" if not new.plaintext.endswith("aaaa") else "bbbb")
    authenticator = TokenAuthenticator(conn, KEY)
    for _ in range(MAX_FAILURES_PER_WINDOW):
        with pytest.raises(Unauthorized):
            await authenticator.authenticate(wrong)
    with pytest.raises(TooManyRequests) as caught:
        await authenticator.authenticate(wrong)
    assert int(caught.value.headers["retry-after"]) > 0
