"""`/static/{name}`: fingerprinted URLs are cached for a year; others revalidate by ETag."""

from __future__ import annotations

from pnotify import staticfiles
from pnotify.http import NotFound, Request
from pnotify.responses import Response
from pnotify.routing import Access, Route


async def serve(request: Request) -> Response:
    found = staticfiles.FILES.get(request.path_params["name"])
    if found is None:
        raise NotFound("not found")
    if request.query.get("v") == found.version:
        cache = "public, max-age=31536000, immutable"
    else:
        cache = "no-cache"
    headers = [("etag", found.etag), ("cache-control", cache)]
    if request.header("if-none-match") == found.etag:
        return Response(304, b"", headers)
    return Response(200, found.body, [("content-type", found.content_type), *headers])


def routes() -> list[Route]:
    return [Route("GET", "/static/{name}", serve, Access.PUBLIC, name="static")]
