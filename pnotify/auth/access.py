"""Each route's access rule (routing.Access), applied to a request: who is calling, and may they.

Credentials are a bearer API token (auth/bearer.py) or a signed session cookie
(auth/session_cookies.py). Cookie-authenticated writes must be same-origin (CSRF); requests with
a bearer token are exempt, as a browser never adds one by itself.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote

import apsw

from pnotify.auth.rate_limit import WriteRateLimit
from pnotify.http import Forbidden, Request, TooManyRequests, Unauthorized
from pnotify.routing import Access, Route

if TYPE_CHECKING:
    from pnotify.auth.bearer import TokenAuthenticator
    from pnotify.auth.session_cookies import SessionCookies

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: str
    scope: str  # "full" or "publish"
    token_id: str | None = None
    session_id: str | None = None


class SignInRequired(Exception):
    """A signed-out visitor asked for a page: send them to sign in, and back here afterwards."""

    def __init__(self, request: Request) -> None:
        target = request.path
        if request.scope.get("query_string"):
            target += "?" + request.scope["query_string"].decode("latin-1")
        if request.method != "GET":
            target = "/"
        super().__init__(target)
        self.location = request.url_for("sign_in") + "?next=" + quote(target, safe="/?=&")


def presented_token(request: Request, integration: bool = False) -> str | None:
    """The API token a request carries: `Authorization: Bearer`, and on integration routes also
    the ways other tools send it — `Authorization: Basic` with the token as the password (any
    user name), ntfy's `?auth=` (the base64 of a whole Authorization value), and Gotify's
    `X-Gotify-Key` header or `?token=`. None when there is none (a browser, perhaps)."""
    header = request.header("authorization")
    if header is None and integration:
        header = _from_auth_parameter(request.query.get("auth"))
    if header is not None:
        scheme, _, value = header.strip().partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
        if scheme.lower() == "basic" and integration:
            return _basic_password(value)
        expected = (
            "'Bearer <token>' (or Basic with the token as password)"
            if integration
            else ("'Bearer <token>'")
        )
        raise Unauthorized(f"Authorization header must be {expected}", code="invalid_authorization")
    if integration:
        return request.header("x-gotify-key") or request.query.get("token") or None
    return None


def _from_auth_parameter(raw: str | None) -> str | None:
    if not raw:
        return None
    try:
        return base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        raise Unauthorized(
            "auth: expected the base64 of an Authorization header value",
            code="invalid_authorization",
        ) from None


def _basic_password(value: str) -> str:
    try:
        user, _, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        raise Unauthorized(
            "Basic credentials are not base64", code="invalid_authorization"
        ) from None
    token = password or user  # `curl -u :TOKEN` and `-u TOKEN:` both seen in the wild
    if not token:
        raise Unauthorized("Basic credentials carry no token", code="invalid_authorization")
    return token


class AccessControl:
    def __init__(
        self,
        tokens: TokenAuthenticator,
        cookies: SessionCookies,
        reader: apsw.Connection,
        public_url: str,
        write_rate: WriteRateLimit,
    ) -> None:
        self.tokens = tokens
        self.write_rate = write_rate
        self.cookies = cookies
        self.reader = reader
        self.public_url = public_url.lower()

    async def principal(self, request: Request, route: Route) -> Principal | None:
        """The caller, checked against the route's rule; raises when they may not call it."""
        if route.access is Access.PUBLIC:
            return None
        token = presented_token(request, route.integration)
        if token is not None and route.access is not Access.PAGE:
            return await self._by_token(token, route, request)
        principal = self.cookies.principal(request, self.reader)
        if principal is None:
            if route.access is Access.PAGE:
                raise SignInRequired(request)
            raise Unauthorized(
                "authentication required: send 'Authorization: Bearer <token>' or sign in"
            )
        if route.access is Access.TOKEN:
            raise Forbidden(
                "this route needs an API token (Authorization: Bearer …)", code="token_required"
            )
        if request.method in UNSAFE_METHODS and not self.same_origin(request):
            raise Forbidden(
                "cross-origin request refused (cookie-authenticated writes must be same-origin)",
                code="cross_origin",
            )
        return principal

    async def _by_token(self, token: str, route: Route, request: Request) -> Principal:
        if route.access is Access.SESSION:
            raise Forbidden(
                "this route needs a browser session, not an API token", code="session_required"
            )
        client = request.scope.get("client") or ("",)
        principal = await self.tokens.authenticate(token, str(client[0]))
        if request.method in UNSAFE_METHODS and principal.token_id is not None:
            wait = self.write_rate.take(principal.token_id)
            if wait is not None:
                raise TooManyRequests(
                    "this token writes faster than TOKEN_RATE_LIMIT allows; slow down",
                    code="rate_limited",
                    headers={"retry-after": str(wait)},
                )
        if principal.scope == "publish" and not route.publish_scope:
            raise Forbidden(
                "this token may only publish notifications (scope 'publish')",
                code="publish_scope_only",
            )
        return principal

    def same_origin(self, request: Request) -> bool:
        fetch_site = request.header("sec-fetch-site")
        if fetch_site is not None:
            return fetch_site == "same-origin"
        origin = request.header("origin")
        if origin is None:
            return False
        origin = origin.lower()
        scheme = str(request.scope.get("scheme", "http"))
        host = (request.header("host") or "").lower()
        return origin in (self.public_url, f"{scheme}://{host}")
