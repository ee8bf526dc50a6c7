"""What sign-in code needs without the OIDC client itself: the login request kept in its
cookie, and the errors sign-in reports. Kept apart from `pnotify.auth.oidc` so that a server
without OIDC never imports httpx and pyjwt (~0.25 s of every start-up and CLI command).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass


class OIDCError(Exception):
    """Sign-in cannot go on; the message is safe to show to the person signing in."""


class ProviderUnavailable(OIDCError):
    """The identity provider did not answer (in time)."""


@dataclass(frozen=True)
class LoginRequest:
    """What is kept in the short-lived login cookie and what goes to the provider."""

    state: str
    nonce: str
    code_verifier: str

    @classmethod
    def new(cls) -> LoginRequest:
        return cls(secrets.token_urlsafe(24), secrets.token_urlsafe(24), secrets.token_urlsafe(48))

    @property
    def code_challenge(self) -> str:
        digest = hashlib.sha256(self.code_verifier.encode()).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
