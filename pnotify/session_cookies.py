"""Browser sessions: the signed cookies, and finding the signed-in user from a request."""

from __future__ import annotations

import json
from dataclasses import dataclass

import apsw

from pnotify import signing
from pnotify.bearer import Principal
from pnotify.config import Settings
from pnotify.http import Request
from pnotify.oidc import LoginRequest
from pnotify.storage import sessions as session_store

SESSION_TTL_SECONDS = 30 * 86_400
LOGIN_TTL_SECONDS = 600
_SESSION_PURPOSE = "session"
_LOGIN_PURPOSE = "login"


@dataclass(frozen=True)
class PendingLogin:
    login: LoginRequest
    next_path: str


def safe_next(value: str | None) -> str:
    """Only a path on this site: no scheme, no host, no `//evil` or `/\\evil` tricks."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")):
        return "/"
    if any(ch in value for ch in "\\\r\n\t") or ":" in value.split("?", 1)[0]:
        return "/"
    return value


class SessionCookies:
    def __init__(self, settings: Settings) -> None:
        self.keys = settings.secret_keys
        self.secure = settings.public_url.startswith("https://")
        # `__Host-`: the browser only accepts it Secure, Path=/ and without Domain, so no
        # subdomain can plant or read it.
        prefix = "__Host-" if self.secure else ""
        self.session_name = prefix + "pn_session"
        self.login_name = prefix + "pn_login"

    def _cookie(self, name: str, value: str, max_age: int) -> str:
        parts = [f"{name}={value}", "Path=/", f"Max-Age={max_age}", "HttpOnly", "SameSite=Lax"]
        if self.secure:
            parts.append("Secure")
        return "; ".join(parts)

    def session_cookie(self, raw_session_id: str) -> str:
        value = signing.sign(self.keys, _SESSION_PURPOSE, raw_session_id, SESSION_TTL_SECONDS)
        return self._cookie(self.session_name, value, SESSION_TTL_SECONDS)

    def clear_session_cookie(self) -> str:
        return self._cookie(self.session_name, "", 0)

    def login_cookie(self, pending: PendingLogin) -> str:
        payload = json.dumps(
            {
                "state": pending.login.state,
                "nonce": pending.login.nonce,
                "verifier": pending.login.code_verifier,
                "next": pending.next_path,
            }
        )
        return self._cookie(
            self.login_name,
            signing.sign(self.keys, _LOGIN_PURPOSE, payload, LOGIN_TTL_SECONDS),
            LOGIN_TTL_SECONDS,
        )

    def clear_login_cookie(self) -> str:
        return self._cookie(self.login_name, "", 0)

    def pending_login(self, request: Request) -> PendingLogin | None:
        raw = request.cookies.get(self.login_name)
        payload = signing.unsign(self.keys, _LOGIN_PURPOSE, raw) if raw else None
        if payload is None:
            return None
        data = json.loads(payload)
        return PendingLogin(
            LoginRequest(data["state"], data["nonce"], data["verifier"]), safe_next(data["next"])
        )

    def session(self, request: Request, reader: apsw.Connection) -> session_store.Session | None:
        raw = request.cookies.get(self.session_name)
        session_id = signing.unsign(self.keys, _SESSION_PURPOSE, raw) if raw else None
        if session_id is None:
            return None
        return session_store.get(reader, session_id)

    def principal(self, request: Request, reader: apsw.Connection) -> Principal | None:
        session = self.session(request, reader)
        if session is None:
            return None
        return Principal(user_id=session.user_id, scope="full", session_id=session.id)
