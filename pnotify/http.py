"""The HTTP layer over raw ASGI: Request, and errors that carry their status (responses.py)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import parse_qsl

from pnotify import errors, jsontext

if TYPE_CHECKING:
    from pnotify.auth.access import Principal
    from pnotify.responses import Response
    from pnotify.routing import Router

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

MAX_BODY_BYTES = 256 * 1024

# The scope key under which our HTTP protocol (protocol.py) offers itself beyond ASGI: to write
# a whole response at once (WholeResponses), and to a streaming response (sse.StreamConnection).
# Absent under another server (`make dev`'s plain uvicorn): then ASGI `send()` it is.
CONNECTION = "pnotify.connection"


class WholeResponses(Protocol):
    def respond(self, scope: Scope, status: int, head_lines: bytes, body: bytes) -> bool:
        """Write the request's whole response, head and body, in one write; False when this
        request's response cannot be written so (then it goes through ASGI `send()`).
        `head_lines` are its header lines, checked (responses.Response.head_lines)."""

    def encode(self, scope: Scope, status: int, head_lines: bytes, body: bytes) -> bytes | None:
        """The bytes `respond` would write, made ahead; None if it could not write them."""

    def respond_encoded(self, scope: Scope, wire: bytes) -> bool:
        """Write what `encode` made; False if that no longer fits (then `respond`)."""


class HTTPError(Exception):
    """An error that becomes `{"detail": …, "code": …}`, in one place (the app).

    Its status follows from its code, one of the table in errors.py. The classes below only
    choose a default code, so `except NotFound` reads naturally at the call sites.
    """

    default_code = "internal_error"

    def __init__(
        self, detail: str, *, code: str | None = None, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.code = code or self.default_code
        self.status = errors.kind(self.code).status
        assert errors.kind(self.default_code).status == self.status, self.code
        self.headers = dict(headers or {})


def _error_class(name: str, default_code: str) -> type[HTTPError]:
    return type(name, (HTTPError,), {"default_code": default_code})


BadRequest = _error_class("BadRequest", "bad_request")
Forbidden = _error_class("Forbidden", "forbidden")
NotFound = _error_class("NotFound", "not_found")
MethodNotAllowed = _error_class("MethodNotAllowed", "method_not_allowed")
PayloadTooLarge = _error_class("PayloadTooLarge", "payload_too_large")
UnsupportedMediaType = _error_class("UnsupportedMediaType", "unsupported_media_type")
TooManyRequests = _error_class("TooManyRequests", "too_many_failures")
ServiceUnavailable = _error_class("ServiceUnavailable", "read_timeout")
InsufficientStorage = _error_class("InsufficientStorage", "disk_full")


class Unauthorized(HTTPError):
    default_code = "authentication_required"

    def __init__(self, detail: str, *, code: str | None = None) -> None:
        super().__init__(detail, code=code, headers={"www-authenticate": "Bearer"})


class ValidationError(HTTPError):
    """A value that parses but is not allowed; the detail starts with the field's name."""

    default_code = "validation_failed"

    def __init__(self, field_name: str, problem: str) -> None:
        super().__init__(f"{field_name}: {problem}")
        self.field = field_name


@dataclass
class Request:
    scope: Scope
    receive: Receive
    path_params: dict[str, str] = field(default_factory=dict)
    principal: Principal | None = None
    # Query parameters and body fields checked against the route's Operation (routing.py).
    params: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    request_id: str = ""
    # Set by the app: makes a response final (app.py's `_finish_ahead`).
    finisher: Callable[[Request, Response], Response] | None = None
    _body: bytes | None = None
    _headers: dict[bytes, bytes] | None = None  # by name, built at the first lookup
    _media_type: str | None = None

    @property
    def user(self) -> Principal:
        """The authenticated caller; routes that require one never see None here."""
        if self.principal is None:
            raise Unauthorized("authentication required")
        return self.principal

    def finished(self, response: Response) -> Response:
        """`response` as it will be sent: the server's headers on it, and its bytes made. A
        handler may have that done early, while the loop would otherwise wait for a COMMIT
        (publishing.py); the app does it for every other response."""
        return response if self.finisher is None else self.finisher(self, response)

    @property
    def router(self) -> Router:
        router: Router = self.scope["pnotify.router"]
        return router

    def url_for(self, name: str, /, **params: str) -> str:
        """The path of a named route (routing.Router.url_for)."""
        return self.router.url_for(name, **params)

    @property
    def method(self) -> str:
        return str(self.scope["method"])

    @property
    def path(self) -> str:
        return str(self.scope["path"])

    def header(self, name: str) -> str | None:
        """The last value of a header, by lower-case name."""
        raw = self._header_map().get(name.encode())
        return None if raw is None else raw.decode("latin-1")

    def repeats(self, name: str) -> bool:
        """Whether a header, by lower-case name, comes more than once."""
        headers = self.scope["headers"]
        if len(self._header_map()) == len(headers):
            return False  # no name comes twice: the usual case, known without a scan
        wanted = name.encode()
        return sum(1 for key, _ in headers if key == wanted) > 1

    def _header_map(self) -> dict[bytes, bytes]:
        # A request's handling looks up eight headers or so: one pass, not one per lookup.
        if self._headers is None:
            self._headers = dict(self.scope["headers"])  # a repeated name: its last value
        return self._headers

    @property
    def media_type(self) -> str:
        """The Content-Type without its parameters, lower-case; '' without one. Kept: the
        route's contract and the body's reader both ask."""
        if self._media_type is None:
            self._media_type = (self.header("content-type") or "").split(";")[0].strip().lower()
        return self._media_type

    @property
    def query(self) -> dict[str, str]:
        """Query parameters; a repeated name keeps its last value."""
        raw = self.scope.get("query_string", b"")
        if not raw:
            return {}  # most requests: nothing to parse
        cached = self.scope.get("pnotify.query")
        if cached is None:
            cached = dict(parse_qsl(raw.decode("latin-1"), keep_blank_values=True))
            self.scope["pnotify.query"] = cached
        return dict(cached)

    @property
    def cookies(self) -> dict[str, str]:
        header = self.header("cookie")
        if not header:
            return {}
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(header)
        except Exception:  # a malformed Cookie header is the client's problem, not a 500
            return {}
        return {name: morsel.value for name, morsel in jar.items()}

    async def body(self, limit: int = MAX_BODY_BYTES) -> bytes:
        """Read the whole body, refusing more than `limit` bytes (declared or streamed)."""
        if self._body is not None:
            return self._body
        declared = self.header("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise PayloadTooLarge(f"request body is larger than {limit} bytes")
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                raise ClientDisconnected
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"request body is larger than {limit} bytes")
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        self._body = b"".join(chunks)
        return self._body

    async def json_object(self) -> dict[str, Any]:
        """The body as a JSON object: 415 for another media type, 400 for malformed JSON."""
        content_type = self.media_type
        if (
            content_type
            and content_type != "application/json"
            and not content_type.endswith("+json")
        ):
            raise UnsupportedMediaType("Content-Type must be application/json")
        raw = await self.body()
        if not raw.strip():
            raise BadRequest("request body is empty; expected a JSON object", code="invalid_json")
        try:
            # NaN and Infinity are marked, not refused here, so the field at fault is named.
            value = jsontext.loads_marking_nonstandard(raw)
        except (ValueError, RecursionError) as error:
            raise BadRequest(
                f"request body is not valid JSON ({_json_error_position(error)})",
                code="invalid_json",
            ) from None
        if not isinstance(value, dict):
            raise BadRequest("request body must be a JSON object", code="invalid_json")
        return value


def _json_error_position(error: Exception) -> str:
    if isinstance(error, json.JSONDecodeError):
        return f"{error.msg} at line {error.lineno} column {error.colno}"
    if isinstance(error, RecursionError):
        return "nested too deeply"
    if isinstance(error, UnicodeDecodeError):
        return "not UTF-8"
    if isinstance(error, jsontext.NotStandardJSON):
        return str(error)
    if "digits" in str(error):  # int() refuses more than sys.get_int_max_str_digits() digits
        return "a number has too many digits"
    return "unreadable"


class ClientDisconnected(Exception):
    """The client went away while we were reading its request."""
