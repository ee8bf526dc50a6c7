"""`/auth/…`: sign-in with OIDC (or a one-time link in local mode), and sign-out."""

from __future__ import annotations

import hmac
import logging
import time
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from pnotify.auth.login import LoginRequest, OIDCError, ProviderUnavailable
from pnotify.auth.session_cookies import SESSION_TTL_SECONDS, PendingLogin, safe_next
from pnotify.broker import CloseReason
from pnotify.http import Request
from pnotify.responses import Response
from pnotify.routing import Access, Route
from pnotify.services import Services
from pnotify.storage import sessions as session_store
from pnotify.storage import users
from pnotify.templating import Safe, message_page, page, render

if TYPE_CHECKING:
    from pnotify.auth.oidc import OIDCClient

log = logging.getLogger(__name__)

STATE_MEMORY_SECONDS = 900


def _error_page(title: str, message: str, status: int = 400) -> Response:
    return Response.html(
        message_page(title, message, link="/auth/login", link_text="Try again"), status
    )


class AuthHandlers:
    def __init__(self, services: Services, oidc: OIDCClient | None) -> None:
        self.services = services
        self.oidc = oidc
        self.cookies = services.cookies
        self._used_states: dict[str, float] = {}

    def _state_already_used(self, state: str) -> bool:
        """States are single use: a replayed callback is refused even with its cookie."""
        now = time.monotonic()
        for old, used_at in list(self._used_states.items()):
            if now - used_at > STATE_MEMORY_SECONDS:
                del self._used_states[old]
        if state in self._used_states:
            return True
        self._used_states[state] = now
        return False

    async def _start_session(self, user_id: str, id_token: str | None, next_path: str) -> Response:
        raw = await self.services.writer.run(
            lambda ctx: session_store.create(ctx.conn, user_id, SESSION_TTL_SECONDS, id_token)
        )
        response = Response.redirect(next_path)
        self.cookies.set_session(response, raw)
        return response

    async def login(self, request: Request) -> Response:
        next_path = safe_next(request.query.get("next"))
        if self.oidc is None:
            return Response.html(
                message_page(
                    "Sign in",
                    "This server runs in local mode. Sign in with the one-time link printed when "
                    "it started, or print a new one with: pnotify login-link "
                    "(make login-link in a checkout)",
                )
            )
        login = LoginRequest.new()
        try:
            url = await self.oidc.authorization_url(login)
        except OIDCError as error:
            return _error_page("Sign-in is unavailable", str(error), 502)
        response = Response.redirect(url, 302)
        self.cookies.set_pending_login(response, PendingLogin(login, next_path))
        return response

    async def callback(self, request: Request) -> Response:
        if self.oidc is None:
            return _error_page("Sign-in failed", "OIDC is not configured on this server.", 404)
        query = request.query
        if "error" in query:
            detail = query.get("error_description") or query["error"]
            return self._failed(f"The identity provider said: {detail[:300]}")
        pending = self.cookies.pending_login(request)
        if pending is None:
            return self._failed("This sign-in expired or was started in another browser.")
        state = query.get("state", "")
        if not hmac.compare_digest(state.encode(), pending.login.state.encode()):
            return self._failed("The sign-in state does not match; start again.")
        if self._state_already_used(state):
            return self._failed("This sign-in was already completed; start again.")
        code = query.get("code")
        if not code:
            return self._failed("The identity provider sent no code.")
        try:
            identity = await self.oidc.exchange(code, pending.login)
        except ProviderUnavailable as error:
            return self._failed(str(error), 502)
        except OIDCError as error:
            return self._failed(str(error))
        user = await self.services.writer.run(
            lambda ctx: users.upsert(
                ctx.conn,
                identity.issuer,
                identity.subject,
                identity.email,
                identity.name,
                login=True,
            )
        )
        log.info("signed in", extra={"user_id": user.id})
        response = await self._start_session(user.id, identity.id_token, pending.next_path)
        self.cookies.clear_pending_login(response)
        return response

    def _failed(self, message: str, status: int = 400) -> Response:
        log.info("sign-in refused", extra={"reason": message})
        response = _error_page("Sign-in failed", message, status)
        self.cookies.clear_pending_login(response)
        return response

    async def local(self, request: Request) -> Response:
        if self.oidc is not None:
            return _error_page("Not available", "Sign-in links are for local mode only.", 404)
        # Everything that can go wrong with the request is settled before the code is spent.
        next_path = safe_next(request.query.get("next"))
        code = request.query.get("code", "")
        valid = bool(code) and await self.services.writer.run(
            lambda ctx: session_store.consume_login_link_code(ctx.conn, code)
        )
        if not valid:
            return _error_page(
                "Sign-in link not valid",
                "This link was already used or has expired. Print a new one with: "
                "pnotify login-link (make login-link in a checkout)",
            )
        user = await self.services.writer.run(lambda ctx: users.local_user(ctx.conn))
        return await self._start_session(user.id, None, next_path)

    async def confirm_logout(self, request: Request) -> Response:
        """GET shows a button: a link that signs out could be fired by any site (CSRF)."""
        return Response.html(page("Sign out", Safe(render("signout.html"))))

    async def logout(self, request: Request) -> Response:
        """POST, same-origin only (the PAGE access rule checks it for unsafe methods)."""
        session_id = request.user.session_id
        assert session_id is not None  # PAGE routes are reached only with a session
        id_token = await self.services.writer.run(
            lambda ctx: session_store.delete(ctx.conn, session_id)
        )
        self.services.broker.close_where(CloseReason.REVOKED, session_id=session_id)
        destination = "/"
        if self.oidc is not None:
            destination = await self._end_session_url(id_token) or destination
        response = Response.redirect(destination)
        self.cookies.clear_session(response)
        return response

    async def _end_session_url(self, id_token: str | None) -> str | None:
        assert self.oidc is not None
        try:
            metadata = await self.oidc.metadata()
        except OIDCError:
            return None
        if not metadata.end_session_endpoint:
            return None
        params = {"post_logout_redirect_uri": self.services.settings.public_url + "/"}
        if id_token:
            params["id_token_hint"] = id_token
        separator = "&" if "?" in metadata.end_session_endpoint else "?"
        return metadata.end_session_endpoint + separator + urlencode(params)


def routes(services: Services, oidc: OIDCClient | None) -> list[Route]:
    handlers = AuthHandlers(services, oidc)
    return [
        Route("GET", "/auth/login", handlers.login, Access.PUBLIC, name="sign_in"),
        Route("GET", "/auth/callback", handlers.callback, Access.PUBLIC),
        Route("GET", "/auth/local", handlers.local, Access.PUBLIC),
        Route("GET", "/auth/logout", handlers.confirm_logout, Access.PAGE),
        Route("POST", "/auth/logout", handlers.logout, Access.PAGE, name="sign_out"),
    ]
