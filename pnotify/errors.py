"""The one table of error kinds: every error response is `{"detail": …, "code": …}`.

`detail` is prose for people and may change; `code` is stable, for clients to branch on. Each
code has one HTTP status. The README's "Error codes" table lists this one (a test compares them).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ErrorKind:
    code: str
    status: int
    meaning: str


_KINDS = (
    ErrorKind("bad_request", 400, "the request cannot be understood (malformed value or header)"),
    ErrorKind("invalid_json", 400, "the body is not a JSON object"),
    ErrorKind("invalid_host", 400, "the Host header is not in ALLOWED_HOSTS"),
    ErrorKind("invalid_cursor", 400, "`after` or `Last-Event-ID` is not a change cursor"),
    ErrorKind("authentication_required", 401, "no credentials were sent"),
    ErrorKind("invalid_authorization", 401, "the Authorization header is not `Bearer <token>`"),
    ErrorKind("invalid_token", 401, "the API token is malformed, unknown or revoked"),
    ErrorKind("token_expired", 401, "the API token has expired"),
    ErrorKind("unknown_user", 401, "the credentials belong to a user that no longer exists"),
    ErrorKind("forbidden", 403, "these credentials may not do this"),
    ErrorKind("session_required", 403, "the route needs a browser session, not an API token"),
    ErrorKind("token_required", 403, "the route needs an API token, not a browser session"),
    ErrorKind("publish_scope_only", 403, "a publish-scope token may only publish"),
    ErrorKind("cross_origin", 403, "a cookie-authenticated write came from another site"),
    ErrorKind("origin_not_allowed", 403, "the CORS origin is not in CORS_ORIGINS"),
    ErrorKind("not_found", 404, "no such route or resource"),
    ErrorKind("notification_not_found", 404, "no such notification for this user"),
    ErrorKind("token_not_found", 404, "no such API token for this user"),
    ErrorKind("qr_code_expired", 404, "a token's QR code is shown only for a few minutes"),
    ErrorKind("method_not_allowed", 405, "the path exists; the method does not (see `Allow`)"),
    ErrorKind("request_timeout", 408, "the request head or body did not arrive in time"),
    ErrorKind("payload_too_large", 413, "the body is larger than the limit"),
    ErrorKind("unsupported_media_type", 415, "the body's Content-Type is not accepted here"),
    ErrorKind("request_head_too_large", 431, "the request line and headers exceed 64 KiB"),
    ErrorKind("validation_failed", 422, "a field or parameter has a value that is not allowed"),
    ErrorKind("too_many_failures", 429, "too many failed token attempts from this address"),
    ErrorKind(
        "rate_limited", 429, "this token writes faster than TOKEN_RATE_LIMIT (`Retry-After`)"
    ),
    ErrorKind("too_many_streams", 429, "the token or session has SSE_STREAMS_PER_TOKEN streams"),
    ErrorKind("internal_error", 500, "a bug: the log has the details under the request id"),
    ErrorKind("too_many_connections", 503, "every connection is busy; try again shortly"),
    ErrorKind("read_timeout", 503, "a database read took longer than READ_TIME_LIMIT_MS"),
    ErrorKind(
        "search_index_behind", 503, "the search index is still being made; try again shortly"
    ),
    ErrorKind("disk_full", 507, "the disk is full: nothing was written; retry when there is room"),
)

KINDS: dict[str, ErrorKind] = {kind.code: kind for kind in _KINDS}


def kind(code: str) -> ErrorKind:
    return KINDS[code]
