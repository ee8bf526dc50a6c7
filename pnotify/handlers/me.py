"""`/api/me`: who the credentials belong to."""

from __future__ import annotations

from pnotify.clock import to_iso
from pnotify.http import Request, Unauthorized
from pnotify.responses import Response
from pnotify.routing import Operation, Reply, Route
from pnotify.services import Services
from pnotify.storage import users


def routes(services: Services) -> list[Route]:
    async def me(request: Request) -> Response:
        principal = request.user
        user = users.get(services.reader, principal.user_id)
        if user is None:  # the user was removed while the credentials lived on
            raise Unauthorized("unknown user", code="unknown_user")
        return Response.json(
            {
                "id": user.id,
                "sub": user.sub,
                "email": user.email,
                "name": user.name,
                "created_at": to_iso(user.created_at),
                "last_login_at": to_iso(user.last_login_at) if user.last_login_at else None,
                "auth": "token" if principal.token_id else "session",
                "scope": principal.scope,
                "token_id": principal.token_id,
            }
        )

    return [
        Route(
            "GET",
            "/api/me",
            me,
            name="me",
            operation=Operation(
                "Who these credentials belong to", {200: Reply("the user", "Me")}, tag="account"
            ),
        )
    ]
