"""Gotify's `POST /message`, as Apprise's `gotify://` and Uptime Kuma's Gotify provider send it:
the token in `X-Gotify-Key`, `?token=` or `Authorization: Bearer`; the body JSON or a form.

Mapping: Gotify's priority 0-3 → low, 4-7 → medium, 8-9 → high, 10 → critical;
`extras["client::display"].contentType == "text/markdown"` → the markdown flag;
`extras["client::notification"].click.url` → the click link; `source` is `gotify` unless
`?source=`. The answer is Gotify's message shape, with the change cursor of the creation as
its (integer) id.
"""

from __future__ import annotations

from typing import Any

from pnotify import jsontext
from pnotify.clock import to_iso
from pnotify.handlers import publishing
from pnotify.handlers.notifications import MESSAGE_MAX, SOURCE_MAX, TITLE_MAX
from pnotify.http import Request
from pnotify.responses import Response
from pnotify.routing import Operation, Reply, Route
from pnotify.schema import Field, Fields, Integer, JsonObject, Text
from pnotify.services import Services
from pnotify.storage.notifications import NewNotification

BODY = Fields(
    (
        Field("message", Text(MESSAGE_MAX), required=True),
        Field("title", Text(TITLE_MAX)),
        Field("priority", Integer(0, 10), doc="0-3 low, 4-7 medium, 8-9 high, 10 critical"),
        Field("extras", JsonObject(8 * 1024, 8)),
    )
)
QUERY = Fields(
    (
        Field("token", Text(200), doc="the API token, as Gotify's clients send it"),
        Field("source", Text(SOURCE_MAX)),
    )
)


def priority(value: int) -> str:
    if value <= 3:
        return "low"
    if value <= 7:
        return "medium"
    return "high" if value <= 9 else "critical"


def _links(extras: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    display = extras.get("client::display")
    if isinstance(display, dict) and display.get("contentType") == "text/markdown":
        found["markdown"] = True
    notification = extras.get("client::notification")
    click = notification.get("click") if isinstance(notification, dict) else None
    if isinstance(click, dict) and isinstance(click.get("url"), str):
        found["click"] = click["url"]
    return found


class GotifyHandlers:
    def __init__(self, services: Services) -> None:
        self.services = services

    async def message(self, request: Request) -> Response:
        data = request.data
        given_priority = data["priority"] if data["priority"] is not None else 5
        extras: dict[str, Any] = jsontext.loads(data["extras"]) if data["extras"] else {}
        metadata = {"gotify_priority": given_priority, **_links(extras)}
        if extras:
            metadata["extras"] = extras
        new = NewNotification(
            title=data["title"] or "Gotify",
            message=data["message"],
            priority=priority(given_priority),
            source=request.params["source"] or "gotify",
            metadata=jsontext.compact(metadata),
        )

        def answer(published: publishing.Published) -> Response:
            ((notification, _),) = published
            return Response.json(
                {
                    "id": notification.created_cursor,
                    "appid": 1,
                    "message": notification.message,
                    "title": notification.title,
                    "priority": given_priority,
                    "date": to_iso(notification.created_at),
                    "extras": extras,
                }
            )

        return await publishing.publish(request, self.services, [new], answer)


def routes(services: Services) -> list[Route]:
    handlers = GotifyHandlers(services)
    return [
        publishing.route(
            "POST",
            "/message",
            handlers.message,
            Operation(
                "Gotify: publish a message",
                {200: Reply("published; shaped like Gotify's message", "GotifyMessage")},
                query=QUERY,
                body=BODY,
                form_body=True,
                tag="gotify",
            ),
        )
    ]
