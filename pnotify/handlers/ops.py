"""`/healthz` for load balancers and container health checks; `/metrics` for Prometheus."""

from __future__ import annotations

import hmac

import apsw

from pnotify.http import NotFound, Request, Response, Unauthorized
from pnotify.metrics import Metrics
from pnotify.routing import Access, Route
from pnotify.services import Services


def routes(services: Services, metrics: Metrics) -> list[Route]:
    async def healthz(request: Request) -> Response:
        try:
            services.reader.execute("SELECT 1 FROM server_state LIMIT 1").fetchall()
            healthy = services.writer.running
        except apsw.Error:
            healthy = False
        if healthy:
            return Response.json({"status": "ok"})
        return Response.json({"status": "unavailable"}, 503)

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

    return [
        Route("GET", "/healthz", healthz, Access.PUBLIC),
        Route("GET", "/metrics", metrics_text, Access.PUBLIC),
    ]
