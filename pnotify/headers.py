"""What every response carries and every request is checked for before routing: the Host check,
CORS (preflight and the actual response), and the security headers with the right CSP.
"""

from __future__ import annotations

from pnotify.config import Settings
from pnotify.http import BadRequest, Forbidden, Request
from pnotify.responses import Response, constant_headers

CORS_ALLOW_HEADERS = "authorization, content-type, last-event-id"
CORS_ALLOW_METHODS = "GET, POST, PATCH, DELETE"
API_CSP = "default-src 'none'; frame-ancestors 'none'"
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
SECURITY_HEADERS = constant_headers(
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "same-origin"),
    ("x-frame-options", "DENY"),
)
PAGE_CSP_HEADER, API_CSP_HEADER, NO_STORE = constant_headers(
    ("content-security-policy", PAGE_CSP),
    ("content-security-policy", API_CSP),
    ("cache-control", "no-store"),
)


class HeaderPolicy:
    def __init__(self, settings: Settings) -> None:
        self.allowed_hosts = settings.allowed_hosts
        self.cors_origins = settings.cors_origins

    def check_host(self, request: Request) -> None:
        if request.repeats("host"):
            # Proxies and the app could each believe a different one: refuse the ambiguity.
            raise BadRequest("more than one Host header", code="invalid_host")
        if "*" in self.allowed_hosts:
            return
        host = (request.header("host") or "").lower()
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        if name not in self.allowed_hosts and host not in self.allowed_hosts:
            raise BadRequest("invalid Host header; add it to ALLOWED_HOSTS", code="invalid_host")

    def options(self, request: Request) -> Response:
        """A CORS preflight, or a plain OPTIONS that lists the methods."""
        origin = request.header("origin")
        if origin is None or request.header("access-control-request-method") is None:
            response = Response.no_content()
            response.set_header("allow", "GET, HEAD, POST, PATCH, DELETE, OPTIONS")
            return response
        if origin.lower() not in self.cors_origins:
            raise Forbidden("origin not allowed; add it to CORS_ORIGINS", code="origin_not_allowed")
        response = Response.no_content()
        response.set_header("access-control-allow-methods", CORS_ALLOW_METHODS)
        response.set_header("access-control-allow-headers", CORS_ALLOW_HEADERS)
        response.set_header("access-control-max-age", "600")
        return response

    def finish(self, request: Request, response: Response, request_id: str) -> None:
        headers = response.headers
        is_html = caching = False
        for name, value in headers:  # one pass over what the handler set
            if name == "content-type":
                is_html = value.startswith("text/html")
            elif name == "cache-control":
                caching = True
        headers.extend(SECURITY_HEADERS)
        headers.append(("x-request-id", request_id))
        headers.append(PAGE_CSP_HEADER if is_html else API_CSP_HEADER)
        if not caching:
            headers.append(NO_STORE)
        origin = request.header("origin")
        if origin is not None and origin.lower() in self.cors_origins:
            response.headers.append(("access-control-allow-origin", origin))
            response.headers.append(("access-control-expose-headers", "location, x-request-id"))
            response.headers.append(("vary", "Origin"))
