"""The ASGI application: lifespan, and request dispatch with the one place errors become responses.

A request goes: Host check (headers.py) → router (routing.py) → the route's access rule
(auth/access.py) → its handler (handlers/) → storage (storage/) → the response, finished with
the security and CORS headers, counted in the metrics and the access log.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import sys
import time
from typing import TYPE_CHECKING

import apsw

from pnotify import db, read_limit
from pnotify.auth.access import AccessControl, SignInRequired
from pnotify.auth.bearer import TokenAuthenticator
from pnotify.auth.rate_limit import WriteRateLimit
from pnotify.auth.session_cookies import SessionCookies
from pnotify.background import BackgroundTasks
from pnotify.broker import Broker, CloseReason
from pnotify.changes import Change, Cursors
from pnotify.config import Settings
from pnotify.handlers import all_routes
from pnotify.headers import HeaderPolicy
from pnotify.http import (
    ClientDisconnected,
    HTTPError,
    InsufficientStorage,
    Receive,
    Request,
    Scope,
    Send,
    ServiceUnavailable,
)
from pnotify.logs import FrequentLines
from pnotify.metrics import Metrics
from pnotify.responses import Response
from pnotify.routing import Router
from pnotify.search_indexer import SearchIndexer
from pnotify.search_reads import SearchReads
from pnotify.services import Services
from pnotify.storage import replay, search_index
from pnotify.storage import sessions as session_store
from pnotify.writer import Writer

if TYPE_CHECKING:
    from pnotify.auth.oidc import OIDCClient

log = logging.getLogger(__name__)

_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


class App:
    """`App(settings)` is an ASGI 3 application."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.services: Services | None = None
        self.router: Router | None = None
        self.background: BackgroundTasks | None = None
        self.oidc: OIDCClient | None = None
        self.metrics = Metrics()
        self._headers = HeaderPolicy(settings)
        enabled = logging.getLogger().isEnabledFor(logging.INFO)
        self.lines: FrequentLines | None = FrequentLines() if enabled else None
        self.access_log = self.lines if settings.access_log else None
        # Request ids: this process's random prefix and a count, 16 hex digits, unique without
        # a system call per request (they correlate log lines; nothing guesses them).
        self._id_prefix = os.urandom(4).hex()
        self._id_numbers = itertools.count(int.from_bytes(os.urandom(2)))

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
        services = self.services = self._open_services()
        if settings.oidc is not None:
            # Imported here: httpx and pyjwt are ~0.25 s of start-up a local-mode server skips.
            from pnotify.auth.oidc import OIDCClient

            self.oidc = OIDCClient(settings.oidc)
        self.router = Router(all_routes(services, self.oidc, self.metrics))
        self.metrics.watch(services)
        self.background = BackgroundTasks(services, self.oidc)
        if self.oidc is not None:
            await self.background.check_provider()  # a few seconds at most; then retried
        self.background.start()
        if settings.local_mode:
            await self._print_sign_in_link()
        log.info(
            "started",
            extra={"url": settings.public_url, "mode": "local" if settings.local_mode else "oidc"},
        )

    def _open_services(self) -> Services:
        settings = self.settings
        reader = db.open_and_migrate(settings.database_path, settings.synchronous)
        search = SearchIndexer(settings.database_path)
        search.start()  # before the reader attaches the index file: it may be made anew
        search_index.attach(reader, settings.database_path)
        reader_limit = read_limit.limit_read_time(reader, settings.read_time_limit_ms)
        search_reads = SearchReads(
            reader,
            reader_limit,
            settings.database_path,
            settings.synchronous,
            settings.read_time_limit_ms,
        )
        search_reads.start()
        broker = Broker(
            settings.sse_keepalive_seconds, settings.sse_queue_limit, settings.sse_streams_per_token
        )
        metrics = self.metrics
        cursors = Cursors(replay.current_cursor, reader)

        def on_commit(changes: list[Change]) -> None:
            metrics.count_changes(changes)
            cursors.published(changes)
            broker.publish(changes)

        def before_commit(conn: apsw.Connection, used: bool) -> None:
            search.forget_taken_in(conn)
            cursors.before_commit(conn, used)

        writer = Writer(
            settings.database_path,
            settings.synchronous,
            on_commit=on_commit,
            observe_commit=metrics.commit_seconds.observe,
            before_commit=before_commit,
            after_commit=search.changed,
            # Bulk actions over a search read the index in the writer's transaction.
            prepare=lambda conn: search_index.attach(conn, settings.database_path),
        )
        writer.start()
        broker.start()
        tokens = TokenAuthenticator(reader, settings.signing_key)
        cookies = SessionCookies(settings)
        access = AccessControl(
            tokens, cookies, reader, settings.public_url, WriteRateLimit(settings.token_rate_limit)
        )
        return Services(
            settings,
            reader,
            writer,
            tokens,
            broker,
            cookies,
            access,
            cursors,
            search,
            search_reads,
            self.access_log,
        )

    async def _print_sign_in_link(self) -> None:
        assert self.services is not None
        code = await self.services.writer.run(
            lambda ctx: session_store.create_login_link_code(ctx.conn)
        )
        minutes = session_store.LOGIN_LINK_TTL_SECONDS // 60
        # Printed, not logged: the link is for the person at the terminal (as Jupyter does).
        print(
            f"\n  Sign in to priority-notify (one-time link, valid {minutes} minutes):\n"
            f"  {self.settings.public_url}/auth/local?code={code}\n",
            file=sys.stderr,
            flush=True,
        )

    def begin_shutdown(self) -> None:
        """End every stream now: uvicorn waits for open connections before lifespan shutdown."""
        if self.services is not None:
            self.services.broker.close_all(CloseReason.SHUTDOWN)

    async def shutdown(self) -> None:
        if self.background is not None:
            await self.background.stop()
        if self.services is None:
            return
        await self.services.broker.stop()
        if self.oidc is not None:
            await self.oidc.close()
        if self.background is not None:
            await self.background.flush_last_used()
        await self.services.writer.close()
        await self.services.search.stop()
        self.services.search_reads.close()
        self.services.reader.close()
        if self.lines is not None:
            self.lines.flush()
        log.info("stopped")

    # --- requests -------------------------------------------------------------------------

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        offered = request.header("x-request-id")
        # A proxy's request id is kept for correlation when it is a sane token; else our own.
        request_id = offered if offered and _REQUEST_ID.fullmatch(offered) else self._next_id()
        request.request_id, request.finisher = request_id, self._finish_ahead
        started = time.perf_counter()
        try:
            response = await self._respond(request)
        except ClientDisconnected:
            return
        except HTTPError as error:
            response = Response.error(error)
        except apsw.FullError:
            response = Response.error(
                InsufficientStorage(
                    "the server's disk is full: nothing was written; retry when there is room"
                )
            )
        except apsw.InterruptError:
            # Cut by the read time limit (read_limit.limit_read_time): the loop is not held hostage.
            log.warning("read cut at the time limit", extra={"request_id": request_id})
            response = Response.error(
                ServiceUnavailable("the database took too long to answer; try again shortly")
            )
        except Exception:
            # Never the exception text to the client: it goes to the log with the request id.
            log.exception("unhandled error", extra={"request_id": request_id, "path": request.path})
            response = Response.error(HTTPError(f"internal server error (request id {request_id})"))
        await self._finish(request, response).send(send, request.scope)
        self._record(request, response, request_id, time.perf_counter() - started)

    async def _respond(self, request: Request) -> Response:
        self._headers.check_host(request)
        if request.method == "OPTIONS":
            return self._headers.options(request)
        assert self.router is not None, "request before start-up"
        assert self.services is not None
        match = self.router.resolve(request.method, request.path)
        request.scope["pnotify.route"] = match.route.template
        request.scope["pnotify.router"] = self.router
        request.path_params = match.params
        try:
            request.principal = await self.services.access.principal(request, match.route)
        except SignInRequired as redirect:
            return Response.redirect(redirect.location)
        if match.route.operation is not None:
            # The route's contract, enforced here, so that no handler can skip it.
            await match.route.operation.enforce(request)
        return await match.route.handler(request)

    def _finish(self, request: Request, response: Response) -> Response:
        if not response.final:
            self._headers.finish(request, response, request.request_id)
            response.final = True
        return response

    def _finish_ahead(self, request: Request, response: Response) -> Response:
        # A method, not a closure over the request: that would be a reference cycle, and a
        # cycle per request leaves every request to the garbage collector (protocol.py).
        return self._finish(request, response).prepare(request.scope)

    def _next_id(self) -> str:
        return f"{self._id_prefix}{next(self._id_numbers) & 0xFFFFFFFF:08x}"

    def _record(
        self, request: Request, response: Response, request_id: str, seconds: float
    ) -> None:
        route = str(request.scope.get("pnotify.route", "unmatched"))
        self.metrics.observe_request(route, request.method, response.status, seconds)
        if self.access_log is not None:
            principal = request.principal
            self.access_log.request(
                {
                    "method": request.method,
                    "path": route,
                    "status": response.status,
                    "ms": round(seconds * 1000, 3),
                    "user_id": principal.user_id if principal else None,
                    "request_id": request_id,
                }
            )


def create_app(settings: Settings) -> App:
    return App(settings)
