"""Responses over raw ASGI: a status, headers and a body, sent head and body in one write
under our protocol (protocol.py), or through ASGI `send()` under another server."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from uvicorn.protocols.http.httptools_impl import HEADER_RE, HEADER_VALUE_RE

from pnotify import jsontext
from pnotify.http import CONNECTION, Scope, Send, WholeResponses

if TYPE_CHECKING:
    from pnotify.http import HTTPError


def _encode_header(pair: tuple[str, str]) -> tuple[bytes, bytes]:
    return pair[0].encode("latin-1"), pair[1].encode("latin-1")


# The bytes a header's name, and its value, must not hold: those uvicorn's checks refuse (one
# class of characters each), so that no value that came from a request can split the response.
# Looked for by bytes.translate, which drops them: 0.25 µs a value, where the regex took 0.5.
_NOT_IN_NAME = bytes(c for c in range(256) if HEADER_RE.search(bytes([c])))
_NOT_IN_VALUE = bytes(c for c in range(256) if HEADER_VALUE_RE.search(bytes([c])))


def _holds_any(data: bytes, refused: bytes) -> bool:
    return len(data.translate(None, refused)) != len(data)


# Names found good: they are this package's words, a few dozen, so each is checked once (the
# bound only keeps a bug from growing it); values may come from a request and are checked always.
_GOOD_NAMES: set[bytes] = set()
_GOOD_NAMES_KEPT = 256


def header_line(pair: tuple[bytes, bytes]) -> bytes:
    """`name: value` and its line end, once the name and the value are checked."""
    name, value = pair
    if name not in _GOOD_NAMES:
        if _holds_any(name, _NOT_IN_NAME):
            raise RuntimeError("Invalid HTTP header name or value.")  # uvicorn's words
        if len(_GOOD_NAMES) < _GOOD_NAMES_KEPT:
            _GOOD_NAMES.add(name)
    if _holds_any(value, _NOT_IN_VALUE):
        raise RuntimeError("Invalid HTTP header name or value.")
    return name + b": " + value + b"\r\n"


# The headers most responses carry, encoded (and as lines, checked) once: see `constant_headers`.
_ENCODED: dict[tuple[str, str], tuple[bytes, bytes]] = {}
_LINES: dict[tuple[str, str], bytes] = {}


def constant_headers(*pairs: tuple[str, str]) -> tuple[tuple[str, str], ...]:
    """Declare headers that never change (a module's constants), so that a response carrying
    them does not encode or check them again: a dozen per response."""
    for pair in pairs:
        _ENCODED[pair] = _encode_header(pair)
        _LINES[pair] = header_line(_ENCODED[pair])
    return pairs


JSON_CONTENT_TYPE = constant_headers(("content-type", "application/json"))[0]


def _encode_json(value: Any) -> bytes:
    return jsontext.compact(value).encode()


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    # Whether the server's own headers are on it (app.py); then the whole response as our
    # protocol will write it, if made ahead (`prepare`).
    final: bool = field(default=False, repr=False)
    wire: bytes | None = field(default=None, repr=False)

    @classmethod
    def json(
        cls, value: Any, status: int = 200, headers: Mapping[str, str] | None = None
    ) -> Response:
        response = cls(status, _encode_json(value), [JSON_CONTENT_TYPE])
        response.headers.extend((headers or {}).items())
        return response

    @classmethod
    def created(cls, value: Any, location: str) -> Response:
        return cls.json(value, 201, {"location": location})

    @classmethod
    def no_content(cls) -> Response:
        return cls(204)

    @classmethod
    def html(cls, text: str, status: int = 200) -> Response:
        return cls(status, text.encode(), [("content-type", "text/html; charset=utf-8")])

    @classmethod
    def text(
        cls, text: str, status: int = 200, content_type: str = "text/plain; charset=utf-8"
    ) -> Response:
        return cls(status, text.encode(), [("content-type", content_type)])

    @classmethod
    def redirect(cls, location: str, status: int = 303) -> Response:
        return cls(status, b"", [("location", location)])

    @classmethod
    def error(cls, error: HTTPError) -> Response:
        return cls.json({"detail": error.detail, "code": error.code}, error.status, error.headers)

    def set_cookie(self, name: str, value: str, *, max_age: int, secure: bool) -> None:
        """Every cookie of ours is HttpOnly, SameSite=Lax and site-wide."""
        parts = [f"{name}={value}", "Path=/", f"Max-Age={max_age}", "HttpOnly", "SameSite=Lax"]
        if secure:
            parts.append("Secure")
        self.headers.append(("set-cookie", "; ".join(parts)))

    def delete_cookie(self, name: str, *, secure: bool) -> None:
        self.set_cookie(name, "", max_age=0, secure=secure)

    def set_header(self, name: str, value: str) -> None:
        lower = name.lower()
        self.headers = [(k, v) for k, v in self.headers if k != lower]
        self.headers.append((lower, value))

    def has_header(self, name: str) -> bool:
        return any(k == name for k, _ in self.headers)

    def raw_headers(self) -> list[tuple[bytes, bytes]]:
        return [_ENCODED.get(pair) or _encode_header(pair) for pair in self.headers]

    def prepare(self, scope: Scope) -> Response:
        """Make now the bytes `send` will write, when the request's `scope` offers our protocol;
        for a response that nothing changes any more (`final`)."""
        connection: WholeResponses | None = scope.get(CONNECTION)
        if connection is not None:
            self.wire = connection.encode(scope, self.status, self.head_lines(), self._body())
        return self

    async def send(self, send: Send, scope: Scope | None = None) -> None:
        """Send it: head and body in one write when the request's `scope` offers our protocol."""
        connection: WholeResponses | None = scope.get(CONNECTION) if scope else None
        if scope and connection is not None:
            if self.wire is not None and connection.respond_encoded(scope, self.wire):
                return
            if connection.respond(scope, self.status, self.head_lines(), self._body()):
                return
        headers = self._wire_headers()
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        await send({"type": "http.response.body", "body": self._body()})

    def _wire_headers(self) -> list[tuple[bytes, bytes]]:
        headers = self.raw_headers()
        if self.status not in (204, 304):
            headers.append((b"content-length", str(len(self.body)).encode()))
        return headers

    def head_lines(self) -> bytes:
        """The header lines of the response's head, checked (`header_line`), with its length:
        what our protocol writes between the status line and the body."""
        lines = [_LINES.get(pair) or header_line(_encode_header(pair)) for pair in self.headers]
        if self.status not in (204, 304):
            lines.append(b"content-length: %d\r\n" % len(self.body))
        return b"".join(lines)

    def _body(self) -> bytes:
        return self.body if self.status != 204 else b""
