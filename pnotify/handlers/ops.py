"""`/healthz` for load balancers and container health checks; `/metrics` for Prometheus;
`/api/openapi.json`, the API contract generated from the route table."""

from __future__ import annotations

import contextlib
import hmac
import os
from pathlib import Path

import apsw

from pnotify import openapi
from pnotify.http import NotFound, Request, Unauthorized
from pnotify.metrics import Metrics
from pnotify.responses import Response
from pnotify.routing import Access, Operation, Reply, Route
from pnotify.services import Services
from pnotify.write_context import WriteContext

ROOM_BYTES = 1024 * 1024  # free space that counts as room again after the disk was full


def _free_bytes(database: Path) -> int:
    stats = os.statvfs(database.parent)
    return stats.f_bavail * stats.f_frsize


def _touch(ctx: WriteContext) -> None:
    ctx.conn.execute("UPDATE server_state SET value = value WHERE key = 'change_cursor'")


def routes(services: Services, metrics: Metrics) -> list[Route]:
    async def healthz(request: Request) -> Response:
        writer = services.writer
        try:
            services.reader.execute("SELECT 1 FROM server_state LIMIT 1").fetchall()
            healthy = writer.running
        except apsw.Error:
            healthy = False
        if not healthy:
            return Response.json(
                {"status": "unavailable", "detail": "the database is not usable"}, 503
            )
        if writer.disk_full and _free_bytes(services.settings.database_path) >= ROOM_BYTES:
            # Room again: a write that changes nothing confirms it (and clears the state).
            with contextlib.suppress(apsw.FullError):
                await writer.run(_touch)
        if writer.disk_full:
            return Response.json(
                {"status": "degraded", "detail": "the disk is full: writes are failing"}, 503
            )
        return Response.json({"status": "ok", **services.health})

    async def metrics_text(request: Request) -> Response:
        expected = services.settings.metrics_token
        if expected is None:
            raise NotFound("not found")  # disabled unless METRICS_TOKEN is set
        header = request.header("authorization") or ""
        if not hmac.compare_digest(header.encode(), f"Bearer {expected}".encode()):
            raise Unauthorized("metrics need 'Authorization: Bearer <METRICS_TOKEN>'")
        return Response.text(
            metrics.render(), content_type="text/plain; version=0.0.4; charset=utf-8"
        )

    contract: dict[str, object] = {}

    async def openapi_json(request: Request) -> Response:
        if not contract:  # built once, from the table the server runs with
            contract.update(openapi.document(request.router, services.cookies.session_name))
        return Response.json(contract)

    return [
        Route(
            "GET",
            "/healthz",
            healthz,
            Access.PUBLIC,
            operation=Operation(
                "Is the server able to serve? (for load balancers)",
                {
                    200: Reply("ok", "Health"),
                    503: Reply("unavailable or degraded, with the reason", "Health"),
                },
                tag="operations",
            ),
        ),
        Route("GET", "/metrics", metrics_text, Access.PUBLIC),
        Route("GET", "/api/openapi.json", openapi_json, Access.PUBLIC, name="openapi"),
    ]
