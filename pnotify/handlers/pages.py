"""Server-rendered pages. Signed-out visitors are sent to sign in and brought back."""

from __future__ import annotations

from urllib.parse import quote

from pnotify.http import Request, Response
from pnotify.routing import Access, Route
from pnotify.services import Services
from pnotify.storage import users
from pnotify.templating import Safe, page, render


def routes(services: Services) -> list[Route]:
    async def home(request: Request) -> Response:
        principal = services.cookies.principal(request, services.reader)
        user = users.get(services.reader, principal.user_id) if principal else None
        if user is None:
            return Response.redirect("/auth/login?next=" + quote(request.path, safe="/"), 303)
        name = user.name or user.email or "you"
        return Response.html(
            page("Dashboard", Safe(render("home.html", user_name=name)), user_name=name)
        )

    return [Route("GET", "/", home, Access.PUBLIC)]
