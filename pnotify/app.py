"""The ASGI application: lifespan, request dispatch, and the one place errors become responses."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import re
import sys
import time

from pnotify import db
from pnotify.bearer import Principal, TokenAuthenticator, bearer_token
from pnotify.broker import Broker, CloseReason
from pnotify.clock import now_us
from pnotify.config import Settings
from pnotify.handlers import api_tokens, me, notifications, ops, pages, signin, static, sync
from pnotify.http import (
    BadRequest,
    ClientDisconnected,
    Forbidden,
    HTTPError,
    Receive,
    Request,
    Response,
    Scope,
    Send,
    Unauthorized,
)
from pnotify.logs import AccessLog
from pnotify.metrics import Metrics
from pnotify.oidc import OIDCClient
from pnotify.retention import RetentionPolicy, sweep_batch
from pnotify.routing import Access, Route, Router
from pnotify.services import Services
from pnotify.session_cookies import SessionCookies
from pnotify.storage import client_tokens as token_store
from pnotify.storage import sessions as session_store
from pnotify.storage.notifications import Change

log = logging.getLogger(__name__)

LAST_USED_FLUSH_SECONDS = 30.0
ACCESS_LOG_FLUSH_SECONDS = 0.25
RETENTION_BATCH = 500
REVOCATION_CHECK_SECONDS = 1.0
LOGIN_LINK_TTL_SECONDS = 600
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CORS_ALLOW_HEADERS = "authorization, content-type, last-event-id"
CORS_ALLOW_METHODS = "GET, POST, PATCH, DELETE"
API_CSP = "default-src 'none'; frame-ancestors 'none'"
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
SECURITY_HEADERS = (
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "same-origin"),
    ("x-frame-options", "DENY"),
)


class App:
    """`App(settings)` is an ASGI 3 application."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.services: Services | None = None
        self.router: Router | None = None
        self._background: list[asyncio.Task[None]] = []
        self.oidc: OIDCClient | None = None
        self.metrics = Metrics()
        enabled = settings.access_log and logging.getLogger().isEnabledFor(logging.INFO)
        self.access_log: AccessLog | None = AccessLog() if enabled else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    # --- lifespan -------------------------------------------------------------------------

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as error:
                    log.error("start-up failed: %s", error)
                    await send({"type": "lifespan.startup.failed", "message": str(error)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def startup(self) -> None:
        settings = self.settings
        reader = db.open_and_migrate(settings.database_path, settings.synchronous)
        broker = Broker(settings.sse_keepalive_seconds, settings.sse_queue_limit)
        metrics = self.metrics

        def on_commit(changes: list[Change]) -> None:
            metrics.count_changes(changes)
            broker.publish(changes)

        writer = db.Writer(
            settings.database_path,
            settings.synchronous,
            on_commit=on_commit,
            observe_commit=metrics.commit_seconds.observe,
        )
        writer.start()
        broker.start()
        services = Services(
            settings=settings,
            reader=reader,
            writer=writer,
            tokens=TokenAuthenticator(reader, settings.signing_key),
            broker=broker,
            cookies=SessionCookies(settings),
        )
        self.services = services
        self.oidc = OIDCClient(settings.oidc) if settings.oidc is not None else None
        # The stream and changes routes come before `/api/notifications/{id}`, which would
        # otherwise take "stream" for an id.
        self.router = Router(
            [
                *sync.routes(services),
                *notifications.routes(services),
                *me.routes(services),
                *api_tokens.routes(services),
                *signin.routes(services, self.oidc),
                *pages.routes(services),
                *static.routes(),
                *ops.routes(services, metrics),
            ]
        )
        metrics.gauge("pnotify_sse_streams", "Open SSE streams.", lambda: broker.subscriber_count)
        metrics.gauge(
            "pnotify_write_queue_depth", "Writes waiting for the writer.", lambda: writer.pending
        )
        metrics.counter(
            "pnotify_token_auth_failures_total",
            "Refused API-token authentications.",
            lambda: services.tokens.failures_total,
        )
        self._background.append(asyncio.create_task(self._flush_last_used_periodically()))
        self._background.append(asyncio.create_task(self._flush_access_log_periodically()))
        self._background.append(asyncio.create_task(self._retention_periodically()))
        self._background.append(asyncio.create_task(self._close_streams_of_revoked_tokens()))
        if settings.local_mode:
            await self._print_sign_in_link()
        log.info(
            "started",
            extra={"url": settings.public_url, "mode": "local" if settings.local_mode else "oidc"},
        )

    async def _print_sign_in_link(self) -> None:
        assert self.services is not None
        code = await self.services.writer.run(
            lambda ctx: session_store.create_login_link_code(ctx.conn, LOGIN_LINK_TTL_SECONDS)
        )
        # Printed, not logged: the link is for the person at the terminal (as Jupyter does).
        print(
            f"\n  Sign in to priority-notify (one-time link, valid {LOGIN_LINK_TTL_SECONDS // 60} "
            f"minutes):\n  {self.settings.public_url}/auth/local?code={code}\n",
            file=sys.stderr,
            flush=True,
        )

    def begin_shutdown(self) -> None:
        """End every stream now: uvicorn waits for open connections before lifespan shutdown."""
        if self.services is not None:
            self.services.broker.close_all(CloseReason.SHUTDOWN)

    async def shutdown(self) -> None:
        for task in self._background:
            task.cancel()
        for task in self._background:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._background.clear()
        if self.services is None:
            return
        await self.services.broker.stop()
        if self.oidc is not None:
            await self.oidc.close()
        await self._flush_last_used()
        await self.services.writer.close()
        self.services.reader.close()
        if self.access_log is not None:
            self.access_log.flush()
        log.info("stopped")

    async def _flush_last_used_periodically(self) -> None:
        while True:
            await asyncio.sleep(LAST_USED_FLUSH_SECONDS)
            try:
                await self._flush_last_used()
            except Exception:
                log.exception("writing token last-used times failed")

    async def _close_streams_of_revoked_tokens(self) -> None:
        """Revocation in this process closes streams at once; this catches other processes
        (`python -m pnotify token revoke`) and expiry, within a second."""
        assert self.services is not None
        services = self.services
        while True:
            await asyncio.sleep(REVOCATION_CHECK_SECONDS)
            token_ids = services.broker.token_ids()
            if not token_ids:
                continue
            try:
                for token_id in token_store.unusable(services.reader, token_ids):
                    services.broker.close_where(CloseReason.REVOKED, token_id=token_id)
            except Exception:
                log.exception("checking streams for revoked tokens failed")

    async def _retention_periodically(self) -> None:
        assert self.services is not None
        writer = self.services.writer
        settings = self.settings
        policy = RetentionPolicy(
            settings.auto_archive_after_days,
            settings.delete_archived_after_days,
            settings.tombstone_retention_days,
        )
        while True:
            await asyncio.sleep(settings.retention_interval_seconds)
            try:
                sweep = functools.partial(
                    sweep_batch, policy=policy, now=now_us(), limit=RETENTION_BATCH
                )
                while await writer.run(sweep):
                    pass  # one batch per writer job: requests interleave between batches
                await writer.run(lambda ctx: session_store.purge_expired(ctx.conn))
            except Exception:
                log.exception("retention sweep failed")

    async def _flush_access_log_periodically(self) -> None:
        while True:
            await asyncio.sleep(ACCESS_LOG_FLUSH_SECONDS)
            if self.access_log is not None:
                self.access_log.flush()

    async def _flush_last_used(self) -> None:
        assert self.services is not None
        uses = self.services.tokens.take_last_used()
        if uses:
            await self.services.writer.run(
                lambda ctx: token_store.record_last_used(ctx.conn, uses.items())
            )

    # --- requests -------------------------------------------------------------------------

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        offered = request.header("x-request-id")
        # A proxy's request id is kept for correlation when it is a sane token; else our own.
        request_id = offered if offered and _REQUEST_ID.fullmatch(offered) else os.urandom(8).hex()
        started = time.perf_counter()
        try:
            response = await self._respond(request)
        except ClientDisconnected:
            return
        except HTTPError as error:
            response = Response.error(error.status, error.detail, error.headers)
        except Exception:
            # Never the exception text to the client: it goes to the log with the request id.
            log.exception("unhandled error", extra={"request_id": request_id, "path": request.path})
            response = Response.error(500, f"internal server error (request id {request_id})")
        self._finish_headers(request, response, request_id)
        await response.send(send)
        seconds = time.perf_counter() - started
        route = str(scope.get("pnotify.route", "unmatched"))
        self.metrics.observe_request(route, request.method, response.status, seconds)
        if self.access_log is not None:
            principal = request.principal
            self.access_log.write(
                {
                    "method": request.method,
                    "path": route,
                    "status": response.status,
                    "ms": round(seconds * 1000, 3),
                    "user_id": principal.user_id if principal else None,
                    "request_id": request_id,
                }
            )

    async def _respond(self, request: Request) -> Response:
        self._check_host(request)
        if request.method == "OPTIONS":
            return self._options(request)
        assert self.router is not None, "request before start-up"
        match = self.router.resolve(request.method, request.path)
        request.scope["pnotify.route"] = match.route.pattern
        request.path_params = match.params
        request.principal = await self._authenticate(request, match.route)
        return await match.route.handler(request)

    def _check_host(self, request: Request) -> None:
        allowed = self.settings.allowed_hosts
        if "*" in allowed:
            return
        host = (request.header("host") or "").lower()
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        if name not in allowed and host not in allowed:
            raise BadRequest("invalid Host header; add it to ALLOWED_HOSTS")

    async def _authenticate(self, request: Request, route: Route) -> Principal | None:
        if route.access is Access.PUBLIC:
            return None
        assert self.services is not None
        token = bearer_token(request)
        if token is not None:
            if route.access is Access.SESSION:
                raise Forbidden("this route needs a browser session, not an API token")
            by_token = await self.services.tokens.authenticate(token)
            if by_token.scope == "publish" and not route.publish_scope:
                raise Forbidden("this token may only publish notifications (scope 'publish')")
            return by_token
        principal = self.services.cookies.principal(request, self.services.reader)
        if principal is None:
            raise Unauthorized(
                "authentication required: send 'Authorization: Bearer <token>' or sign in"
            )
        if route.access is Access.TOKEN:
            raise Forbidden("this route needs an API token (Authorization: Bearer …)")
        if request.method in UNSAFE_METHODS and not self._same_origin(request):
            raise Forbidden(
                "cross-origin request refused (cookie-authenticated writes must be same-origin)"
            )
        return principal

    def _same_origin(self, request: Request) -> bool:
        """CSRF check for cookie-authenticated writes (bearer requests are exempt)."""
        fetch_site = request.header("sec-fetch-site")
        if fetch_site is not None:
            return fetch_site == "same-origin"
        origin = request.header("origin")
        if origin is None:
            return False
        origin = origin.lower()
        scheme = str(request.scope.get("scheme", "http"))
        host = (request.header("host") or "").lower()
        return origin in (self.settings.public_url.lower(), f"{scheme}://{host}")

    def _options(self, request: Request) -> Response:
        origin = request.header("origin")
        if origin is None or request.header("access-control-request-method") is None:
            response = Response.no_content()
            response.set_header("allow", "GET, HEAD, POST, PATCH, DELETE, OPTIONS")
            return response
        if origin.lower() not in self.settings.cors_origins:
            raise Forbidden("origin not allowed; add it to CORS_ORIGINS")
        response = Response.no_content()
        response.set_header("access-control-allow-methods", CORS_ALLOW_METHODS)
        response.set_header("access-control-allow-headers", CORS_ALLOW_HEADERS)
        response.set_header("access-control-max-age", "600")
        return response

    def _finish_headers(self, request: Request, response: Response, request_id: str) -> None:
        response.headers.extend(SECURITY_HEADERS)
        response.headers.append(("x-request-id", request_id))
        is_html = any(
            k == "content-type" and v.startswith("text/html") for k, v in response.headers
        )
        response.headers.append(("content-security-policy", PAGE_CSP if is_html else API_CSP))
        if not response.has_header("cache-control"):
            response.headers.append(("cache-control", "no-store"))
        origin = request.header("origin")
        if origin is not None and origin.lower() in self.settings.cors_origins:
            response.headers.append(("access-control-allow-origin", origin))
            response.headers.append(("access-control-expose-headers", "location, x-request-id"))
            response.headers.append(("vary", "Origin"))


def create_app(settings: Settings) -> App:
    return App(settings)
