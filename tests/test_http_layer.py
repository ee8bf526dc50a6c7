"""The hand-rolled HTTP layer through a real server: routing errors, hosts, CORS, headers."""

from __future__ import annotations

import re
import socket

import httpx
import pytest

from tests.serverproc import Account, ServerProcess

ALLOWED_ORIGIN = "https://app.example.test"


@pytest.fixture(scope="module")
def server_settings() -> dict[str, str]:
    return {"CORS_ORIGINS": ALLOWED_ORIGIN}


def test_unknown_path_is_json_404(client: httpx.Client) -> None:
    response = client.get("/api/nothing-here")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"detail": "not found", "code": "not_found"}


def test_wrong_method_is_405_with_allow(client: httpx.Client, account: Account) -> None:
    response = client.put("/api/notifications/", headers=account.headers)
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD, OPTIONS, POST"
    assert "PUT" in response.json()["detail"]


def test_head_answers_like_get_without_body(client: httpx.Client, account: Account) -> None:
    response = client.head("/api/me", headers=account.headers)
    assert response.status_code == 200
    assert response.content == b""


def test_security_headers_on_every_response(client: httpx.Client, account: Account) -> None:
    for response in (client.get("/api/me", headers=account.headers), client.get("/nowhere")):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "same-origin"
        assert response.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
        assert response.headers["cache-control"] == "no-store"
        assert len(response.headers["x-request-id"]) == 16
        assert "server" not in response.headers


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8000", "127.0.0.2"])
def test_host_not_allowed_is_400(client: httpx.Client, account: Account, host: str) -> None:
    response = client.get("/api/me", headers={**account.headers, "host": host})
    assert response.status_code == 400
    assert "Host" in response.json()["detail"]


@pytest.mark.parametrize("host", ["localhost", "localhost:1234", "127.0.0.1:80", "LOCALHOST"])
def test_allowed_hosts_pass(client: httpx.Client, account: Account, host: str) -> None:
    assert client.get("/api/me", headers={**account.headers, "host": host}).status_code == 200


def test_cors_preflight_for_allowed_origin(client: httpx.Client) -> None:
    response = client.options(
        "/api/notifications/",
        headers={
            "origin": ALLOWED_ORIGIN,
            "access-control-request-method": "POST",
            "access-control-request-headers": "authorization, content-type",
        },
    )
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert "POST" in response.headers["access-control-allow-methods"]
    assert "authorization" in response.headers["access-control-allow-headers"]


def test_cors_preflight_for_other_origin_is_refused(client: httpx.Client) -> None:
    response = client.options(
        "/api/notifications/",
        headers={"origin": "https://evil.example", "access-control-request-method": "POST"},
    )
    assert response.status_code == 403
    assert "access-control-allow-origin" not in response.headers


def test_cors_headers_on_actual_requests(client: httpx.Client, account: Account) -> None:
    allowed = client.get("/api/me", headers={**account.headers, "origin": ALLOWED_ORIGIN})
    assert allowed.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert "Origin" in allowed.headers["vary"]
    other = client.get("/api/me", headers={**account.headers, "origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers


def test_plain_options_lists_methods(client: httpx.Client) -> None:
    response = client.options("/api/me")
    assert response.status_code == 204
    assert "GET" in response.headers["allow"]


def test_error_responses_never_carry_tracebacks(client: httpx.Client, account: Account) -> None:
    odd_requests = [
        client.get("/api/notifications/", params={"limit": "9" * 400}, headers=account.headers),
        client.get("/api/notifications/", params={"since": "9999-99-99"}, headers=account.headers),
        client.get(
            "/api/notifications/",
            params={"since": "0001-01-01T00:00:00+14:00"},
            headers=account.headers,
        ),
        client.get("/api/notifications/%00", headers=account.headers),
        client.get("/api/me", headers={**account.headers, "cookie": 'a="unterminated'}),
    ]
    for response in odd_requests:
        assert response.status_code < 500, response.text
        assert "Traceback" not in response.text
        assert set(response.json()) == {"detail", "code"} or response.status_code == 200


def test_static_files_have_etags_and_fingerprints(client: httpx.Client) -> None:
    from pnotify import staticfiles

    plain = client.get("/static/common.js")
    assert plain.status_code == 200
    assert plain.headers["content-type"] == "text/javascript; charset=utf-8"
    assert plain.headers["cache-control"] == "no-cache"
    etag = plain.headers["etag"]
    assert client.get("/static/common.js", headers={"if-none-match": etag}).status_code == 304
    pinned = client.get(staticfiles.url("style.css"))
    assert pinned.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert pinned.headers["content-type"] == "text/css; charset=utf-8"


@pytest.mark.parametrize(
    "path",
    [
        "/static/../pnotify/app.py",
        "/static/%2e%2e/pnotify/app.py",
        "/static/..%2fpnotify%2fapp.py",
        "/static/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "/static/",
        "/static/.gitignore",
        "/static/missing.js",
    ],
)
def test_static_paths_cannot_leave_the_folder(client: httpx.Client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert b"import" not in response.content and b"root:" not in response.content


# --- on the wire: the server writes each answer itself (protocol.py), so check the bytes -----


def _send_and_read(server: ServerProcess, requests: list[bytes], methods: list[str]) -> bytes:
    """Send the requests in one write (pipelined), read back one answer per request."""
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(b"".join(requests))
        received = b""
        answers = 0
        position = 0
        while answers < len(methods):
            end = received.find(b"\r\n\r\n", position)
            if end < 0:
                received += _more(sock, received)
                continue
            head = received[position:end].lower()
            length = int(head.split(b"content-length: ")[1].split(b"\r\n")[0])
            body_end = end + 4 + (0 if methods[answers] == "HEAD" else length)
            while len(received) < body_end:
                received += _more(sock, received)
            position = body_end
            answers += 1
        return received


def _request(method: str, path: str, server: ServerProcess, token: str = "") -> bytes:
    host = server.url.removeprefix("http://")
    authorization = f"Authorization: Bearer {token}\r\n" if token else ""
    return f"{method} {path} HTTP/1.1\r\nHost: {host}\r\n{authorization}\r\n".encode()


def test_pipelined_requests_get_their_own_answers_in_order(
    server: ServerProcess, account: Account
) -> None:
    wire = _send_and_read(
        server,
        [
            _request("GET", "/healthz", server),
            _request("GET", "/api/notifications/?limit=1", server, account.token),
            _request("GET", "/api/nothing-here", server),
        ],
        ["GET", "GET", "GET"],
    )
    statuses = re.findall(rb"HTTP/1\.1 (\d{3}) ", wire)
    assert statuses == [b"200", b"200", b"404"]
    assert wire.index(b'"status":"ok"') < wire.index(b'"items":[') < wire.index(b'"not_found"')


def test_head_sends_the_headers_and_no_body(server: ServerProcess, account: Account) -> None:
    wire = _send_and_read(
        server,
        [
            _request("HEAD", "/api/notifications/", server, account.token),
            _request("GET", "/healthz", server),
        ],
        ["HEAD", "GET"],
    )
    head, after = wire.split(b"\r\n\r\n", 1)
    assert b"content-length: 0" not in head.lower()
    assert after.startswith(b"HTTP/1.1 200 OK\r\n")  # the next answer, with nothing between


def test_an_http_1_0_request_is_answered_and_closed(server: ServerProcess) -> None:
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(b"GET /healthz HTTP/1.0\r\nHost: " + f"{host}:{port}".encode() + b"\r\n\r\n")
        received = b""
        while chunk := sock.recv(65536):  # ends when the server closes
            received += chunk
    assert received.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"\r\nconnection: close\r\n" in received
    assert b'"status":"ok"' in received.split(b"\r\n\r\n", 1)[1]


def _post(server: ServerProcess, token: str, version: str = "1.1") -> bytes:
    host = server.url.removeprefix("http://")
    body = b'{"title":"on the wire","priority":"high"}'
    return (
        f"POST /api/notifications/ HTTP/{version}\r\nHost: {host}\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
        f"Origin: {ALLOWED_ORIGIN}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body


def test_a_post_is_answered_whole_with_the_servers_headers(
    server: ServerProcess, account: Account
) -> None:
    # A new notification's answer is made while its batch commits (publishing.py): the bytes,
    # made ahead, must be the same whole answer as any other, and leave the connection usable.
    wire = _send_and_read(
        server, [_post(server, account.token), _request("GET", "/healthz", server)], ["POST", "GET"]
    )
    head, rest = wire.split(b"\r\n\r\n", 1)
    headers = dict(line.split(b": ", 1) for line in head.lower().split(b"\r\n")[1:])
    assert head.startswith(b"HTTP/1.1 201 Created\r\n")
    for name in (b"date", b"x-content-type-options", b"content-security-policy", b"location"):
        assert name in headers, name
    assert len(headers[b"x-request-id"]) == 16
    assert headers[b"access-control-allow-origin"] == ALLOWED_ORIGIN.encode()
    length = int(headers[b"content-length"])
    assert b'"title":"on the wire"' in rest[:length]
    assert rest[length:].startswith(b"HTTP/1.1 200 OK\r\n")


def test_a_post_over_http_1_0_is_answered_and_closed(
    server: ServerProcess, account: Account
) -> None:
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(_post(server, account.token, "1.0"))
        received = b""
        while chunk := sock.recv(65536):  # ends when the server closes
            received += chunk
    head, body = received.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 201 Created\r\n")
    assert head.count(b"\r\nconnection: close") == 1
    assert body.startswith(b"{") and b'"title":"on the wire"' in body


def _more(sock: socket.socket, so_far: bytes) -> bytes:
    chunk = sock.recv(65536)
    assert chunk, f"the server closed the connection after {so_far!r}"
    return chunk


def test_a_request_pipelined_behind_a_stream_leaves_the_stream_whole(
    server: ServerProcess, account: Account, client: httpx.Client
) -> None:
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        stream = _request("GET", "/api/notifications/stream", server, account.token)
        sock.sendall(stream + _request("GET", "/healthz", server))
        received = b""
        while b"event: ready" not in received:
            received += _more(sock, received)
        posted = client.post(
            "/api/notifications/", json={"title": "behind a pipeline"}, headers=account.headers
        )
        assert posted.status_code == 201
        while b"behind a pipeline" not in received:
            received += _more(sock, received)
    # The stream's head only: nothing of uvicorn's (a 500) written into the stream's body.
    assert received.count(b"HTTP/1.1 ") == 1
    assert received.startswith(b"HTTP/1.1 200 OK\r\n")
    assert not [line for line in server.lines if "ASGI callable" in line]
