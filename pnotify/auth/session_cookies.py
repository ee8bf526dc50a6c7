"""Browser sessions: the signed cookies, and finding the signed-in user from a request."""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import quote

import apsw

from pnotify.auth import signing
from pnotify.auth.access import Principal
from pnotify.auth.login import LoginRequest
from pnotify.config import Settings
from pnotify.http import Request
from pnotify.responses import Response
from pnotify.storage import sessions as session_store

SESSION_TTL_SECONDS = 30 * 86_400
# Characters left as they are in a path and query; everything else is percent-encoded.
_PATH_AND_QUERY = "/?=&%:@!$'()*+,;~-._"
LOGIN_TTL_SECONDS = 600
_SESSION_PURPOSE = "session"
_LOGIN_PURPOSE = "login"


@dataclass(frozen=True)
class PendingLogin:
    login: LoginRequest
    next_path: str


def safe_next(value: str | None) -> str:
    """Only a path on this site: no scheme, no host, no `//evil` or `/\\evil` tricks. What is
    kept is percent-encoded to plain ASCII, so it always fits in a `Location` header."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")):
        return "/"
    if any(ch in value for ch in "\\\r\n\t") or ":" in value.split("?", 1)[0]:
        return "/"
    return quote(value, safe=_PATH_AND_QUERY, errors="replace")


class SessionCookies:
    def __init__(self, settings: Settings) -> None:
        self.keys = settings.secret_keys
        self.secure = settings.public_url.startswith("https://")
        # `__Host-`: the browser only accepts it Secure, Path=/ and without Domain, so no
        # subdomain can plant or read it.
        prefix = "__Host-" if self.secure else ""
        self.session_name = prefix + "pn_session"
        self.login_name = prefix + "pn_login"

    def set_session(self, response: Response, raw_session_id: str) -> None:
        value = signing.sign(self.keys, _SESSION_PURPOSE, raw_session_id, SESSION_TTL_SECONDS)
        response.set_cookie(
            self.session_name, value, max_age=SESSION_TTL_SECONDS, secure=self.secure
        )

    def clear_session(self, response: Response) -> None:
        response.delete_cookie(self.session_name, secure=self.secure)

    def set_pending_login(self, response: Response, pending: PendingLogin) -> None:
        payload = json.dumps(
            {
                "state": pending.login.state,
                "nonce": pending.login.nonce,
                "verifier": pending.login.code_verifier,
                "next": pending.next_path,
            }
        )
        value = signing.sign(self.keys, _LOGIN_PURPOSE, payload, LOGIN_TTL_SECONDS)
        response.set_cookie(self.login_name, value, max_age=LOGIN_TTL_SECONDS, secure=self.secure)

    def clear_pending_login(self, response: Response) -> None:
        response.delete_cookie(self.login_name, secure=self.secure)

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
