"""Routes are data: (method, path pattern, handler, who may call it).

A path that matches with the wrong method is a 405 with `Allow`, not a 404. Collection paths are
written with their trailing slash, as in the spec; the same path without it is served too, since
clients routinely drop it and a redirect would lose a POST body on some of them.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from pnotify.http import MethodNotAllowed, NotFound, Request, Response

Handler = Callable[[Request], Awaitable[Response]]

_PARAM = re.compile(r"\{([a-z_]+)\}")


class Access(enum.Enum):
    PUBLIC = "public"  # no credentials
    SESSION = "session"  # browser session cookie only
    TOKEN = "token"  # bearer token only
    ANY = "any"  # session or bearer token


@dataclass(frozen=True)
class Route:
    method: str
    pattern: str
    handler: Handler
    access: Access = Access.ANY
    # Publish-scope tokens (scripts, CI) may only call routes that say so.
    publish_scope: bool = False
    regex: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        parts = _PARAM.split(self.pattern)
        expression = "".join(
            f"(?P<{part}>[^/]+)" if index % 2 else re.escape(part)
            for index, part in enumerate(parts)
        )
        object.__setattr__(self, "regex", re.compile(expression))


@dataclass(frozen=True)
class Match:
    route: Route
    params: dict[str, str]


class Router:
    def __init__(self, routes: Iterable[Route]) -> None:
        self.routes = list(routes)

    def resolve(self, method: str, path: str) -> Match:
        candidates = [path]
        if not path.endswith("/"):
            candidates.append(path + "/")
        allowed: set[str] = set()
        for candidate in candidates:
            for route in self.routes:
                found = route.regex.fullmatch(candidate)
                if found is None:
                    continue
                if route.method == method or (method == "HEAD" and route.method == "GET"):
                    return Match(route, found.groupdict())
                allowed.add(route.method)
            if allowed:
                break
        if allowed:
            if "GET" in allowed:
                allowed.add("HEAD")
            allowed.add("OPTIONS")
            raise MethodNotAllowed(
                f"method {method} is not allowed here",
                headers={"allow": ", ".join(sorted(allowed))},
            )
        raise NotFound("not found")
