"""ntfy's publish API, the parts its clients use (the ntfy CLI and npm client, Apprise's
`ntfy://`, Uptime Kuma's ntfy provider), so they post here unchanged:

- `POST /` or `PUT /` with a JSON body that names the `topic` (Uptime Kuma, Apprise's JSON);
- `POST /{topic}` or `PUT /{topic}` with the message as the body, options as headers or query
  parameters with ntfy's aliases (`X-Title`, `Title`, `ti`, `t`, …), names in any case;
- a body Apprise re-sends as an attachment (`?filename=`, no Content-Type): text up to the
  message limit becomes the message, anything else is a 413 or 415.

Mapping: the topic becomes the `source` (unless `?source=`), ntfy's priority 1-2 → low,
3 → medium, 4 → high, 5 → critical; tags, click, actions, icon, attach, filename and the
markdown flag are kept in `metadata`. The answer is a 200 (Apprise takes nothing else for
success) shaped like ntfy's message, which the npm client parses.
"""

from __future__ import annotations

import email.header
from typing import Any

from pnotify import jsontext
from pnotify.handlers import publishing
from pnotify.handlers.notifications import MESSAGE_MAX, SOURCE_MAX, TITLE_MAX
from pnotify.http import PayloadTooLarge, Request, UnsupportedMediaType, ValidationError
from pnotify.responses import Response
from pnotify.routing import Operation, Reply, Route
from pnotify.schema import AnyJson, Boolean, Field, Fields, Integer, Text, TextList
from pnotify.services import Services
from pnotify.storage.notifications import NewNotification

PRIORITY_NAMES = {"min": 1, "low": 2, "default": 3, "high": 4, "max": 5, "urgent": 5}
PRIORITIES = {1: "low", 2: "low", 3: "medium", 4: "high", 5: "critical"}
# Each option and its aliases, as headers (also with X-) or query parameters.
OPTIONS = {
    "title": ("title", "ti", "t"),
    "priority": ("priority", "prio", "p"),
    "tags": ("tags", "tag", "ta"),
    "click": ("click",),
    "markdown": ("markdown", "md"),
    "actions": ("actions", "action"),
    "icon": ("icon",),
    "attach": ("attach", "a"),
    "filename": ("filename", "file", "f"),
    "message": ("message", "m"),
}
_URL = Text(2000)
_TAGS = TextList(20, 100)
_UNSUPPORTED = ("delay", "at", "in", "email", "e", "call", "cache", "firebase", "up")
_IGNORED_FIELDS = ("delay", "email", "call", "cache", "firebase")
_ALIASES = [alias for aliases in OPTIONS.values() for alias in aliases]

JSON_BODY = Fields(
    (
        Field("topic", Text(64), required=True),
        Field("title", Text(TITLE_MAX)),
        Field("message", Text(MESSAGE_MAX, blank=True)),
        Field("priority", Integer(1, 5), doc="1 (min) to 5 (max)"),
        Field("tags", _TAGS),
        Field("click", _URL),
        Field("markdown", Boolean()),
        Field("actions", AnyJson()),
        Field("icon", _URL),
        Field("attach", _URL),
        Field("filename", Text(200)),
        *(
            Field(name, AnyJson(), doc="accepted and ignored")
            for name in ("delay", "email", "call", "cache", "firebase")
        ),
    )
)
QUERY = Fields(
    (
        *(
            Field(alias, Text(MESSAGE_MAX, blank=True))
            for aliases in OPTIONS.values()
            for alias in aliases
        ),
        *(Field(name, Text(200, blank=True), doc="accepted and ignored") for name in _UNSUPPORTED),
        Field("source", Text(SOURCE_MAX)),
        Field("auth", Text(4000), doc="ntfy's way: base64 of a whole Authorization value"),
    ),
    extra_allowed=False,
)


def _priority(value: str | int | None) -> int:
    if value is None or value == "":
        return 3
    if isinstance(value, int):
        return value
    named = PRIORITY_NAMES.get(value.strip().lower())
    if named is not None:
        return named
    return Integer(1, 5).parse_text("priority", value.strip())


_JSON_OPTIONS = (
    *("title", "priority", "tags", "click", "markdown", "actions", "icon", "attach", "filename"),
)
_HEADER_OPTIONS = {
    prefix + alias.encode(): option
    for option, aliases in OPTIONS.items()
    for alias in aliases
    for prefix in (b"", b"x-")
}


def _headers(request: Request) -> dict[str, str]:
    """The request's headers that carry ntfy options, by option, read once: UTF-8 (or RFC 2047
    encoded words), under any alias, with or without `X-`, in any case (ASGI lowers names)."""
    found: dict[str, str] = {}
    for key, raw in request.scope["headers"]:
        option = _HEADER_OPTIONS.get(key)
        if option is None or option in found:
            continue
        text: str = raw.decode("utf-8", "replace")
        if text.startswith("=?"):
            text = str(email.header.make_header(email.header.decode_header(text)))
        found[option] = text
    return found


def _header_options(request: Request, with_query: bool = False) -> dict[str, Any]:
    """Every option given as a header (or, for the text form, a query parameter), parsed."""
    options: dict[str, Any] = _headers(request)
    for option, aliases in OPTIONS.items():
        if with_query and not options.get(option):
            options[option] = next((request.params[a] for a in aliases if request.params[a]), None)
        options.setdefault(option, None)
    if options["tags"]:
        options["tags"] = _TAGS.parse_text("tags", options["tags"])
    if options["markdown"]:
        options["markdown"] = Boolean().parse_text("markdown", options["markdown"])
    return options


class NtfyHandlers:
    def __init__(self, services: Services) -> None:
        self.services = services

    async def publish_json(self, request: Request) -> Response:
        """The JSON form; options missing from the body may come as headers (Apprise sends the
        priority and tags that way)."""
        data = request.data
        options = _header_options(request)
        options.update({name: data[name] for name in _JSON_OPTIONS if data[name] is not None})
        options["priority"] = _priority(options["priority"])
        return await self._publish(request, data["topic"], data["message"] or "", options)

    async def publish_text(self, request: Request) -> Response:
        topic = request.path_params["topic"]
        options = _header_options(request, with_query=True)
        options["priority"] = _priority(options["priority"])
        message = await self._message(request, options)
        return await self._publish(request, topic, message, options)

    async def _message(self, request: Request, options: dict[str, Any]) -> str:
        body = await request.body()
        given = options.pop("message") or ""
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise UnsupportedMediaType(
                "the body is not text: attachments are not kept here; send text (UTF-8)"
            ) from None
        if options["filename"] and text:
            text = f"{given}\n\n{text}" if given else text  # Apprise's long message as a file
        else:
            text = text or given
        if len(text) > MESSAGE_MAX:
            raise PayloadTooLarge(f"the message is longer than {MESSAGE_MAX} characters")
        return Text(MESSAGE_MAX, blank=True).check("message", text)

    async def _publish(
        self, request: Request, topic: str, message: str, options: dict[str, Any]
    ) -> Response:
        title = options["title"] or topic
        if len(title) > TITLE_MAX:
            raise ValidationError("title", f"must be at most {TITLE_MAX} characters")
        extras = {k: v for k, v in options.items() if k not in ("title", "priority") and v}
        metadata = {"topic": topic, "ntfy_priority": options["priority"], **extras}
        new = NewNotification(
            title=Text(TITLE_MAX).check("title", title),
            message=message,
            priority=PRIORITIES[options["priority"]],
            source=request.params.get("source") or topic,
            metadata=jsontext.compact(metadata),
        )

        def answer(published: publishing.Published) -> Response:
            ((notification, _),) = published
            return Response.json(
                {
                    "id": notification.id,
                    "time": notification.created_at // 1_000_000,
                    "event": "message",
                    "topic": topic,
                    "title": notification.title,
                    "message": message,
                    "priority": options["priority"],
                    "tags": options["tags"] or [],
                    "click": options["click"] or "",
                }
            )

        return await publishing.publish(request, self.services, [new], answer)


def routes(services: Services) -> list[Route]:
    handlers = NtfyHandlers(services)
    replies = {200: Reply("published; shaped like ntfy's message", "NtfyMessage")}
    json_form = Operation(
        "ntfy: publish with a JSON body naming the topic",
        replies,
        query=Fields((QUERY.by_name["auth"],)),
        body=JSON_BODY,
        tag="ntfy",
    )
    text_form = Operation(
        "ntfy: publish the body as the message; options as headers or query parameters",
        replies,
        query=QUERY,
        text_body=True,
        tag="ntfy",
    )
    return [
        publishing.route(
            method,
            path,
            handler,
            operation,
        )
        for method in ("POST", "PUT")
        for path, handler, operation in (
            ("/", handlers.publish_json, json_form),
            ("/{topic:topic}", handlers.publish_text, text_form),
        )
    ]
