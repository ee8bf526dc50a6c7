"""Hostile input gets a clear 4xx naming what is wrong, and no stored value can break a page.

Each case here was a 500 (or worse) on the code before the hardening issue.
"""

from __future__ import annotations

import json
import socket
from typing import Any

import httpx
import pytest

from tests.serverproc import Account, ServerProcess
from tests.sseclient import STREAM

BASE = "/api/notifications/"


@pytest.fixture(scope="module")
def server_settings() -> dict[str, str]:
    return {"TOKEN_RATE_LIMIT": "2", "SSE_STREAMS_PER_TOKEN": "2"}


def _nested(levels: int) -> str:
    return '{"a":' * levels + "1" + "}" * levels


def _post_raw(client: httpx.Client, account: Account, body: str) -> httpx.Response:
    return client.post(
        BASE, content=body, headers={**account.headers, "content-type": "application/json"}
    )


@pytest.mark.parametrize("levels", [33, 975])
def test_deep_metadata_is_refused_naming_the_field(
    client: httpx.Client, account: Account, levels: int
) -> None:
    response = _post_raw(client, account, '{"title":"x","metadata":' + _nested(levels) + "}")
    assert response.status_code == 422
    assert response.json()["detail"] == "metadata: must be nested at most 32 levels deep"


def test_json_too_deep_to_parse_is_a_400(client: httpx.Client, account: Account) -> None:
    response = _post_raw(client, account, '{"title":"x","metadata":' + _nested(5000) + "}")
    assert response.status_code == 400
    assert response.json()["detail"] == "request body is not valid JSON (nested too deeply)"


def test_metadata_32_deep_is_fine(client: httpx.Client, account: Account) -> None:
    response = _post_raw(client, account, '{"title":"x","metadata":' + _nested(31) + "}")
    assert response.status_code == 201


def test_no_stored_value_can_break_a_page(
    server: ServerProcess, client: httpx.Client, account: Account
) -> None:
    created = client.post(BASE, json={"title": "deep"}, headers=account.headers).json()
    conn = server.connect()  # written as the old code let it be written
    try:
        with conn:
            conn.execute(
                "UPDATE notifications SET metadata = ? WHERE id = ?",
                ('{"m":' + _nested(975) + "}", created["id"]),
            )
    finally:
        conn.close()
    listed = client.get(BASE, headers=account.headers)
    assert listed.status_code == 200
    (item,) = [i for i in listed.json()["items"] if i["id"] == created["id"]]
    assert "nested over 32 deep" in item["metadata"]["unreadable"]
    cookie_client = httpx.Client(base_url=server.url, cookies=_session(server, account))
    with cookie_client:
        for path in ("/", "/?status=all", f"/fragments/notifications/{created['id']}"):
            assert cookie_client.get(path).status_code == 200, path


def _session(server: ServerProcess, account: Account) -> dict[str, str]:
    from tests.serverproc import session_cookie_for

    return {"pn_session": session_cookie_for(server, account.user_id)}


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_refused(
    client: httpx.Client, account: Account, constant: str
) -> None:
    response = _post_raw(client, account, '{"title":"x","metadata":{"n":' + constant + "}}")
    assert response.status_code == 422
    assert response.json()["detail"].startswith(f"metadata: {constant} is not a JSON number")
    assert "NaN" not in client.get(BASE, headers=account.headers).text


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        ('{"title":"\\ud800"}', 422, "title: contains a lone surrogate"),
        ('{"title":"x","source":"\\udfff"}', 422, "source: contains a lone surrogate"),
        ('{"title":"x","metadata":{"k":"\\ud800"}}', 422, "metadata: contains a lone surrogate"),
        ('{"title":"x","metadata":{"n":' + "9" * 4301 + "}}", 400, "request body is not valid"),
    ],
)
def test_malformed_values_are_4xx(
    client: httpx.Client, account: Account, body: str, status: int, detail: str
) -> None:
    response = _post_raw(client, account, body)
    assert response.status_code == status
    assert response.json()["detail"].startswith(detail)
    if status == 400:
        assert "too many digits" in response.json()["detail"]


@pytest.mark.parametrize(
    ("path", "headers", "name"),
    [
        (BASE + "?offset=9223372036854775808", {}, "offset"),
        (BASE + "?limit=%C2%B2", {}, "limit"),
        (BASE + "changes?after=%C2%B2", {}, "after"),
        (BASE + "changes?after=%D9%A1", {}, "after"),  # an Arabic-Indic one
        (STREAM, {"last-event-id": "9" * 5000}, "Last-Event-ID"),
    ],
)
def test_odd_numbers_are_a_400_naming_them(
    client: httpx.Client, account: Account, path: str, headers: dict[str, str], name: str
) -> None:
    response = client.get(path, headers={**account.headers, **headers})
    assert response.status_code == 400
    assert response.json()["detail"].startswith(f"{name}: expected")


def test_unknown_query_parameters_are_named(client: httpx.Client, account: Account) -> None:
    response = client.get(BASE, params={"prio": "high"}, headers=account.headers)
    assert response.status_code == 422
    assert response.json()["detail"].startswith("prio: unknown query parameter")


def test_dashboard_forgives_an_odd_offset(server: ServerProcess, account: Account) -> None:
    with httpx.Client(base_url=server.url, cookies=_session(server, account)) as browser:
        assert browser.get("/?offset=%C2%B2").status_code == 200


def test_sign_in_link_with_an_odd_next_still_signs_in(server: ServerProcess) -> None:
    link = server.sign_in_link().split(server.url, 1)[1]
    with httpx.Client(base_url=server.url) as browser:
        response = browser.get(link + "&next=/%E2%80%A8")
        assert response.status_code == 303
        assert response.headers["location"] == "/%E2%80%A8"
        assert browser.get("/api/me").status_code == 200  # the cookie arrived


def test_duplicate_host_headers_are_refused(server: ServerProcess, account: Account) -> None:
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(
            f"GET /api/me HTTP/1.1\r\nHost: {host}\r\nHost: evil.example\r\n"
            f"Authorization: Bearer {account.token}\r\nConnection: close\r\n\r\n".encode()
        )
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 ")
    assert json.loads(body) == {"detail": "more than one Host header", "code": "invalid_host"}


def test_a_session_cannot_publish(server: ServerProcess, account: Account) -> None:
    with httpx.Client(base_url=server.url, cookies=_session(server, account)) as browser:
        response = browser.post(BASE, json={"title": "x"}, headers={"origin": server.url})
    assert response.status_code == 403
    assert response.json()["code"] == "token_required"


def test_writes_are_rate_limited_per_token(server: ServerProcess, client: httpx.Client) -> None:
    runaway, calm = server.account("runaway"), server.account("calm")
    statuses = [
        client.post(BASE, json={"title": f"{n}"}, headers=runaway.headers).status_code
        for n in range(25)
    ]
    # TOKEN_RATE_LIMIT=2: a burst of 20 passes, then 429s (a few may refill meanwhile).
    assert statuses[:20] == [201] * 20
    assert 429 in statuses[20:]
    refused = client.post(BASE, json={"title": "more"}, headers=runaway.headers)
    assert refused.status_code == 429
    assert refused.json()["code"] == "rate_limited"
    assert int(refused.headers["retry-after"]) >= 1
    assert client.get(BASE, headers=runaway.headers).status_code == 200  # reads are not limited
    assert client.post(BASE, json={"title": "x"}, headers=calm.headers).status_code == 201


def test_streams_per_token_are_capped(server: ServerProcess, client: httpx.Client) -> None:
    account = server.account("many-streams")
    other = server.account("one-stream")
    with httpx.Client(base_url=server.url, timeout=10) as http:
        opened: list[Any] = []
        try:
            for _ in range(2):
                stream = http.stream("GET", STREAM, headers=account.headers)
                response = stream.__enter__()
                opened.append(stream)
                assert response.status_code == 200
            third = http.get(STREAM, headers=account.headers)
            assert third.status_code == 429
            assert third.json()["code"] == "too_many_streams"
            with http.stream("GET", STREAM, headers=other.headers) as elsewhere:
                assert elsewhere.status_code == 200
        finally:
            for stream in opened:
                stream.__exit__(None, None, None)
