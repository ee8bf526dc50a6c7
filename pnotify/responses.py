"""Responses over raw ASGI: a status, headers and a body, sent head and body in one write
under our protocol (protocol.py), or through ASGI `send()` under another server."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pnotify import jsontext
from pnotify.http import CONNECTION, Scope, Send, WholeResponses

if TYPE_CHECKING:
    from pnotify.http import HTTPError


def _encode_header(pair: tuple[str, str]) -> tuple[bytes, bytes]:
    return pair[0].encode("latin-1"), pair[1].encode("latin-1")


# The headers most responses carry, encoded once (see `constant_headers`).
_ENCODED: dict[tuple[str, str], tuple[bytes, bytes]] = {}


def constant_headers(*pairs: tuple[str, str]) -> tuple[tuple[str, str], ...]:
    """Declare headers that never change (a module's constants), so that a response carrying
    them does not encode them again: a dozen per response."""
    _ENCODED.update((pair, _encode_header(pair)) for pair in pairs)
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
            self.wire = connection.encode(scope, self.status, self._wire_headers(), self._body())
        return self

    async def send(self, send: Send, scope: Scope | None = None) -> None:
        """Send it: head and body in one write when the request's `scope` offers our protocol."""
        connection: WholeResponses | None = scope.get(CONNECTION) if scope else None
        if scope and connection is not None:
            if self.wire is not None and connection.respond_encoded(scope, self.wire):
                return
            if connection.respond(scope, self.status, self._wire_headers(), self._body()):
                return
        headers = self._wire_headers()
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        await send({"type": "http.response.body", "body": self._body()})

    def _wire_headers(self) -> list[tuple[bytes, bytes]]:
        headers = self.raw_headers()
        if self.status not in (204, 304):
            headers.append((b"content-length", str(len(self.body)).encode()))
        return headers

    def _body(self) -> bytes:
        return self.body if self.status != 204 else b""
