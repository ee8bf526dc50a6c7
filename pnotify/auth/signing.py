"""Signed, expiring values for cookies, with stdlib hmac (after itsdangerous' signer).

`value.expiry.signature`: the expiry is inside what is signed, each purpose has its own salt (a
login-state cookie can never pass for a session), the newest key signs and every key verifies
(rotation), and signatures are compared in constant time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Sequence


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(key: bytes, purpose: str, message: str) -> str:
    derived = hmac.new(key, b"pnotify-signing:" + purpose.encode(), hashlib.sha256).digest()
    return _b64(hmac.new(derived, message.encode(), hashlib.sha256).digest())


def sign(
    keys: Sequence[bytes],
    purpose: str,
    value: str,
    max_age_seconds: int,
    *,
    now: float | None = None,
) -> str:
    expires = int((time.time() if now is None else now) + max_age_seconds)
    message = f"{_b64(value.encode())}.{expires}"
    return f"{message}.{_signature(keys[0], purpose, message)}"


def unsign(
    keys: Sequence[bytes], purpose: str, signed: str, *, now: float | None = None
) -> str | None:
    """The value, or None when the signature is wrong, the format is off, or it has expired."""
    parts = signed.split(".")
    if len(parts) != 3:
        return None
    encoded, expires, signature = parts
    message = f"{encoded}.{expires}"
    if not any(hmac.compare_digest(_signature(key, purpose, message), signature) for key in keys):
        return None
    if not expires.isdigit() or int(expires) < (time.time() if now is None else now):
        return None
    try:
        return _unb64(encoded).decode()
    except (ValueError, UnicodeDecodeError):
        return None
