"""API token format and its bcrypt hash."""

from __future__ import annotations

import pytest

from pnotify.auth.token_format import hash_secret, new_token, parse_token, secret_matches


def test_round_trip() -> None:
    plaintext, parsed = new_token()
    assert plaintext.startswith("pn_")
    assert parse_token(plaintext) == parsed
    assert len(parsed.lookup_id) == 12


def test_tokens_are_unique() -> None:
    assert len({new_token()[0] for _ in range(200)}) == 200


@pytest.mark.parametrize(
    "token",
    [
        "",
        "pn_",
        "xx_abcdefghijkl_" + "a" * 43,
        "pn_abcdefghijk_" + "a" * 43,  # lookup id too short
        "pn_abcdefghijkl_" + "a" * 42,  # secret too short
        "pn_abcdefghijkl_" + "a" * 43 + "!",
        "pn_abcdefghij-l_" + "a" * 43,
        "pn_abcdefghijkl_" + "a" * 43 + "\n",
    ],
)
def test_malformed_tokens_are_refused(token: str) -> None:
    assert parse_token(token) is None


def test_bcrypt_hash_verifies_only_the_secret() -> None:
    _, parsed = new_token()
    stored = hash_secret(parsed.secret, 4)
    assert parsed.secret not in stored
    assert secret_matches(parsed.secret, stored)
    assert not secret_matches(parsed.secret[:-1] + "x", stored)
