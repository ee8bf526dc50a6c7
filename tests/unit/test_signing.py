"""Signed cookies and the safe `next` path: pure functions."""

from __future__ import annotations

from pathlib import Path

import pytest

from pnotify.auth import signing
from pnotify.auth.session_cookies import SessionCookies, safe_next
from pnotify.config import load_settings
from pnotify.responses import Response

OLD, NEW = b"old-secret-key-0123456789", b"new-secret-key-0123456789"


def test_round_trip_and_expiry() -> None:
    signed = signing.sign([NEW], "session", "abc", 60, now=1000)
    assert signing.unsign([NEW], "session", signed, now=1059) == "abc"
    assert signing.unsign([NEW], "session", signed, now=1061) is None


def test_rotation_newest_signs_all_verify() -> None:
    old_cookie = signing.sign([OLD], "session", "abc", 60)
    new_cookie = signing.sign([NEW, OLD], "session", "abc", 60)
    assert signing.unsign([NEW, OLD], "session", old_cookie) == "abc"
    assert signing.unsign([NEW], "session", new_cookie) == "abc"
    assert signing.unsign([NEW], "session", old_cookie) is None


def test_purposes_do_not_mix() -> None:
    login = signing.sign([NEW], "login", "abc", 60)
    assert signing.unsign([NEW], "session", login) is None


@pytest.mark.parametrize("mangle", ["value", "expiry", "signature", "parts"])
def test_tampering_is_refused(mangle: str) -> None:
    value, expiry, signature = signing.sign([NEW], "session", "abc", 60).split(".")
    forged = {
        "value": f"{value}x.{expiry}.{signature}",
        "expiry": f"{value}.{int(expiry) + 1}.{signature}",
        "signature": f"{value}.{expiry}.{signature[::-1]}",
        "parts": f"{value}.{signature}",
    }[mangle]
    assert signing.unsign([NEW], "session", forged) is None


def test_host_prefix_and_secure_on_https(tmp_path: Path) -> None:
    https = load_settings({"DATA_DIR": str(tmp_path), "PUBLIC_URL": "https://notify.example"}, None)
    header = _session_set_cookie(SessionCookies(https))
    assert header.startswith("__Host-pn_session=")
    assert "; Secure" in header
    assert "; Path=/" in header
    assert "Domain" not in header
    plain = _session_set_cookie(SessionCookies(load_settings({"DATA_DIR": str(tmp_path)}, None)))
    assert plain.startswith("pn_session=")
    assert "Secure" not in plain


def _session_set_cookie(cookies: SessionCookies) -> str:
    response = Response.no_content()
    cookies.set_session(response, "raw")
    (header,) = [value for name, value in response.headers if name == "set-cookie"]
    return header


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("/tokens", "/tokens"),
        ("/?status=unread&priority=high", "/?status=unread&priority=high"),
        (None, "/"),
        ("", "/"),
        ("tokens", "/"),
        ("//evil.example", "/"),
        ("/\\evil.example", "/"),
        ("https://evil.example/", "/"),
        ("/a\r\nSet-Cookie: x", "/"),
        ("/javascript:alert(1)", "/"),
    ],
)
def test_safe_next(value: str | None, expected: str) -> None:
    assert safe_next(value) == expected
