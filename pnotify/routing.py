"""Routes are data: (method, path pattern, handler, who may call it, name).

Path parameters have types, as starlette's convertors do: `{id:uuid}` matches only a UUID (and
hands it over in lower case), `{name}` or `{name:str}` one path segment. A path that fits no
pattern is a 404 from the router itself, and because typed parameters cannot swallow the fixed
paths beside them (`/api/notifications/stream` is no UUID), the order of the table does not
matter. Fixed paths are found by one dictionary look-up.

A path that matches with the wrong method is a 405 with `Allow`, not a 404. Collection paths are
written with their trailing slash, as in the spec; the same path without it is served too, since
clients routinely drop it and a redirect would lose a POST body on some of them.

URLs are built from route names (`Router.url_for`), never assembled by hand in handlers.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from pnotify.http import MethodNotAllowed, NotFound, Request
from pnotify.responses import Response
from pnotify.schema import Fields

Handler = Callable[[Request], Awaitable[Response]]

_PARAM = re.compile(r"\{([a-z_]+)(?::([a-z]+))?\}")


@dataclass(frozen=True)
class Convertor:
    regex: str
    normalise: Callable[[str], str] = str


# The server's own first path segments can never be ntfy topics.
RESERVED_SEGMENTS = (
    "api",
    "auth",
    "fragments",
    "static",
    "healthz",
    "metrics",
    "tokens",
    "message",
)

CONVERTORS = {
    "str": Convertor("[^/]+"),
    "topic": Convertor("(?!(?:" + "|".join(RESERVED_SEGMENTS) + ")$)[-_A-Za-z0-9]{1,64}"),
    "uuid": Convertor(
        "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}", str.lower
    ),
}


class Access(enum.Enum):
    PUBLIC = "public"  # no credentials
    PAGE = "page"  # a browser session; a signed-out visitor is sent to sign in
    SESSION = "session"  # browser session cookie only
    TOKEN = "token"  # bearer token only
    ANY = "any"  # session or bearer token


@dataclass(frozen=True)
class Reply:
    """One documented answer of an operation: a description and a named body schema."""

    description: str
    schema: str | None = None  # a component of openapi.py's document
    media_type: str = "application/json"


@dataclass(frozen=True)
class Operation:
    """What an API route takes and answers. The app enforces `query` and `body` before the
    handler runs (as `request.params` and `request.data`); openapi.py publishes the same."""

    summary: str
    replies: dict[int, Reply]
    query: Fields = field(default_factory=Fields)
    body: Fields | None = None
    # Besides JSON, a body may come as an HTML form (Gotify's clients send either).
    form_body: bool = False
    # The body is the message itself (ntfy): read by the handler, documented as text.
    text_body: bool = False
    tag: str = "notifications"

    async def enforce(self, request: Request) -> None:
        """Check the request against this contract: `request.params`, `request.data`."""
        request.params = self.query.parse_query(request.query)
        if self.body is None:
            return
        if self.form_body and request.media_type == "application/x-www-form-urlencoded":
            text = (await request.body()).decode("utf-8", "replace")
            form = dict(parse_qsl(text, keep_blank_values=True))
            request.data = self.body.parse_query(form, "field")
        else:
            request.data = self.body.parse_body(await request.json_object())


@dataclass(frozen=True)
class Route:
    method: str
    pattern: str
    handler: Handler
    access: Access = Access.ANY
    # Publish-scope tokens (scripts, CI) may only call routes that say so.
    publish_scope: bool = False
    name: str | None = None
    operation: Operation | None = None  # API routes: their contract (see Operation)
    # Integration routes also take the token the ways other tools send it (auth/access.py).
    integration: bool = False
    regex: re.Pattern[str] = field(init=False, repr=False, compare=False)
    # The pattern without parameter types: the label in metrics and the access log.
    template: str = field(init=False, repr=False, compare=False)
    convertors: dict[str, Convertor] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        convertors: dict[str, Convertor] = {}
        expression = ""
        position = 0
        for found in _PARAM.finditer(self.pattern):
            name, kind = found.group(1), found.group(2) or "str"
            if kind not in CONVERTORS:
                raise ValueError(f"{self.pattern}: unknown parameter type {kind!r}")
            convertors[name] = CONVERTORS[kind]
            expression += re.escape(self.pattern[position : found.start()])
            expression += f"(?P<{name}>{CONVERTORS[kind].regex})"
            position = found.end()
        expression += re.escape(self.pattern[position:])
        object.__setattr__(self, "regex", re.compile(expression))
        object.__setattr__(self, "convertors", convertors)
        object.__setattr__(self, "template", _PARAM.sub(r"{\1}", self.pattern))

    @property
    def is_fixed(self) -> bool:
        return not self.convertors

    def match(self, path: str) -> dict[str, str] | None:
        found = self.regex.fullmatch(path)
        if found is None:
            return None
        return {
            name: self.convertors[name].normalise(value)
            for name, value in found.groupdict().items()
        }

    def url(self, params: dict[str, str]) -> str:
        path = self.template.format_map(params)  # the template is the pattern, types left out
        if self.match(path) != {k: v for k, v in params.items() if k in self.convertors}:
            raise ValueError(f"{params} do not fit {self.pattern}")
        return path


@dataclass(slots=True)  # not frozen: one per request, and frozen is twice the cost to build
class Match:
    route: Route
    params: dict[str, str]


class Router:
    def __init__(self, routes: Iterable[Route]) -> None:
        self.routes = list(routes)
        self._fixed: dict[str, dict[str, Route]] = {}
        self._patterned: list[Route] = []
        self._named: dict[str, Route] = {}
        for route in self.routes:
            if route.is_fixed:
                methods = self._fixed.setdefault(route.pattern, {})
                if route.method in methods:
                    raise ValueError(f"{route.method} {route.pattern} is routed twice")
                methods[route.method] = route
            else:
                self._patterned.append(route)
            if route.name is not None and self._named.setdefault(route.name, route) is not route:
                raise ValueError(f"route name {route.name!r} is used twice")

    def url_for(self, name: str, /, **params: str) -> str:
        return self._named[name].url(params)

    def resolve(self, method: str, path: str) -> Match:
        candidates = (path,) if path.endswith("/") else (path, path + "/")
        for candidate in candidates:
            found = self._candidates(candidate)
            if not found:
                continue
            for route, params in found:
                if route.method == method or (method == "HEAD" and route.method == "GET"):
                    return Match(route, params)
            allowed = {route.method for route, _ in found} | {"OPTIONS"}
            if "GET" in allowed:
                allowed.add("HEAD")
            raise MethodNotAllowed(
                f"method {method} is not allowed here",
                headers={"allow": ", ".join(sorted(allowed))},
            )
        raise NotFound("not found")

    def _candidates(self, path: str) -> list[tuple[Route, dict[str, str]]]:
        fixed = self._fixed.get(path)
        if fixed is not None:
            return [(route, {}) for route in fixed.values()]
        found = []
        for route in self._patterned:
            params = route.match(path)
            if params is not None:
                found.append((route, params))
        return found
