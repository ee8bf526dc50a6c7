"""API tokens on every route: each token state, scopes, rate limiting, and user isolation."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from pnotify.clock import now_us
from tests.serverproc import Account, ServerProcess

BASE = "/api/notifications/"
MISSING_ID = "01a2150d-5823-7e35-80d1-2bf01ce8d93e"


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    body: dict[str, Any] | None = None


def _calls(notification_id: str) -> list[Call]:
    return [
        Call("GET", BASE),
        Call("POST", BASE, {"title": "from a test"}),
        Call("GET", BASE + notification_id),
        Call("PATCH", BASE + notification_id, {"status": "read"}),
        Call("DELETE", BASE + notification_id),
        Call("GET", "/api/me"),
        Call("GET", BASE + "changes"),
        Call("POST", BASE + "read-all"),
        Call("POST", BASE + "bulk", {"action": "archive", "ids": [notification_id]}),
        Call("GET", BASE + "sources"),
    ]


def _send(client: httpx.Client, call: Call, headers: dict[str, str]) -> httpx.Response:
    return client.request(call.method, call.path, json=call.body, headers=headers)


@pytest.fixture(scope="module")
def owner(server: ServerProcess) -> Account:
    return server.account("owner")


@pytest.fixture
def target(client: httpx.Client, owner: Account) -> Iterator[str]:
    """A notification of the owner's that each test may try to touch."""
    response = client.post(
        BASE, json={"title": "owner's", "source": "secret"}, headers=owner.headers
    )
    assert response.status_code == 201
    notification_id: str = response.json()["id"]
    yield notification_id
    client.delete(BASE + notification_id, headers=owner.headers)


def _bad_credentials(server: ServerProcess, owner: Account) -> dict[str, dict[str, str]]:
    expired = server.account("expired", user_id=owner.user_id, expires_at=now_us() - 1)
    revoked = server.account("revoked", user_id=owner.user_id)
    server.revoke_elsewhere(revoked.token_id)
    lookup_part = owner.token[: len("pn_") + 12 + 1]
    return {
        "none": {},
        "bearer without token": {"Authorization": "Bearer"},
        "basic scheme": {"Authorization": "Basic dXNlcjpwYXNz"},
        "malformed": {"Authorization": "Bearer not-a-token"},
        "unknown lookup id": {"Authorization": "Bearer pn_AAAAAAAAAAAA_" + "x" * 43},
        "wrong secret": {"Authorization": "Bearer " + lookup_part + "y" * 43},
        "expired": expired.headers,
        "revoked": revoked.headers,
    }


def test_every_route_refuses_bad_credentials(
    server: ServerProcess, client: httpx.Client, owner: Account, target: str
) -> None:
    for state, headers in _bad_credentials(server, owner).items():
        for call in _calls(target):
            response = _send(client, call, headers)
            assert response.status_code == 401, (state, call, response.text)
            assert response.headers["www-authenticate"] == "Bearer"
            assert response.json()["detail"]
    # Nothing the refused calls asked for happened.
    after = client.get(BASE + target, headers=owner.headers)
    assert after.status_code == 200 and after.json()["status"] == "unread"


def test_expired_token_says_so(server: ServerProcess, client: httpx.Client, owner: Account) -> None:
    headers = _bad_credentials(server, owner)["expired"]
    assert client.get("/api/me", headers=headers).json()["detail"] == "API token has expired"


def test_publish_scope_may_only_post(
    server: ServerProcess, client: httpx.Client, owner: Account, target: str
) -> None:
    publisher = server.account("publisher", scope="publish", user_id=owner.user_id)
    for call in _calls(target):
        response = _send(client, call, publisher.headers)
        if call.path == BASE and call.method == "POST":
            assert response.status_code == 201
            assert (
                client.get(response.headers["location"], headers=owner.headers).status_code == 200
            )
        else:
            assert response.status_code == 403, call
            assert "publish" in response.json()["detail"]
    assert client.get(BASE + target, headers=owner.headers).json()["status"] == "unread"


def test_full_scope_token_works_on_every_route(
    client: httpx.Client, owner: Account, target: str
) -> None:
    expected = {"GET": 200, "POST": 201, "PATCH": 200, "DELETE": 204}
    for call in _calls(target):
        many = call.path.endswith(("read-all", "bulk"))
        status = 200 if many else expected[call.method]
        assert _send(client, call, owner.headers).status_code == status, call


def test_me_with_token(client: httpx.Client, owner: Account) -> None:
    me = client.get("/api/me", headers=owner.headers).json()
    assert me["id"] == owner.user_id
    assert me["email"] == "owner@example.test"
    assert (me["auth"], me["scope"], me["token_id"]) == ("token", "full", owner.token_id)


def test_other_users_notifications_do_not_exist(
    server: ServerProcess, client: httpx.Client, owner: Account, target: str
) -> None:
    intruder = server.account("intruder")
    mine = client.post(
        BASE, json={"title": "intruder's own", "source": "secret"}, headers=intruder.headers
    )
    assert mine.status_code == 201

    for call in _calls(target)[2:5]:
        response = _send(client, call, intruder.headers)
        assert response.status_code == 404, call
        assert response.json() == {
            "detail": "notification not found",
            "code": "notification_not_found",
        }

    for params in (
        {},
        {"source": "secret"},
        {"status": "unread"},
        {"priority": "medium"},
        {"since": "2000-01-01"},
        {"q": "own"},
        {"q": "secret"},
    ):
        page = client.get(BASE, params=params, headers=intruder.headers).json()
        assert [item["title"] for item in page["items"]] == ["intruder's own"], params
        assert page["total"] == 1, params

    assert client.get(BASE, params={"q": "hello"}, headers=intruder.headers).json()["total"] == 0
    assert client.get(BASE + "sources", headers=intruder.headers).json() == {
        "items": [{"source": "secret", "count": 1}]
    }
    for action in ("read", "archive", "delete"):
        bulk = {"action": action, "ids": [target]}
        answer = client.post(BASE + "bulk", json=bulk, headers=intruder.headers).json()
        assert answer == {"updated": 0, "changed": []}
    assert client.post(BASE + "read-all", headers=intruder.headers).json()["updated"] == 1
    owned = client.get(BASE + target, headers=owner.headers)
    assert owned.status_code == 200 and owned.json()["status"] == "unread"
    owner_titles = [
        i["title"]
        for i in client.get(BASE, params={"limit": 200}, headers=owner.headers).json()["items"]
    ]
    assert "intruder's own" not in owner_titles


def test_revocation_takes_effect_on_the_next_request(
    server: ServerProcess, client: httpx.Client
) -> None:
    account = server.account("soon-revoked")
    assert client.get("/api/me", headers=account.headers).status_code == 200  # now cached
    server.revoke_elsewhere(account.token_id)
    assert client.get("/api/me", headers=account.headers).status_code == 401


def _from(server: ServerProcess, address: str) -> httpx.Client:
    """A client whose connections come from another loopback address (127.0.0.0/8)."""
    return httpx.Client(
        base_url=server.url, transport=httpx.HTTPTransport(local_address=address), timeout=10
    )


def test_failures_are_limited_per_address_and_never_lock_out_the_owner(
    server: ServerProcess, client: httpx.Client
) -> None:
    victim = server.account("victim")
    wrong = {"Authorization": "Bearer " + victim.token[: len("pn_") + 13] + "z" * 43}
    with _from(server, "127.0.0.2") as guesser:
        codes = [guesser.get("/api/me", headers=wrong).status_code for _ in range(20)]
        assert codes == [401] * 20
        limited = guesser.get("/api/me", headers=wrong)
        assert limited.status_code == 429
        assert limited.json()["code"] == "too_many_failures"
        assert int(limited.headers["retry-after"]) > 0
    # The owner, elsewhere, is not locked out — not even on the token's first use (bcrypt).
    assert client.get("/api/me", headers=victim.headers).status_code == 200
    # Another address's wrong guess is judged on its own.
    assert client.get("/api/me", headers=wrong).status_code == 401
