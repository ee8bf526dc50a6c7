"""The notifications API through a real server: every route and every validation error."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import httpx
import pytest

from tests.serverproc import Account, ServerProcess

BASE = "/api/notifications/"


def _post(client: httpx.Client, account: Account, **body: Any) -> httpx.Response:
    return client.post(BASE, json=body, headers=account.headers)


def _create(client: httpx.Client, account: Account, **body: Any) -> dict[str, Any]:
    body.setdefault("title", "hello")
    response = _post(client, account, **body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def _assert_refused(response: httpx.Response, status: int, detail: str) -> None:
    assert response.status_code == status
    assert response.json()["detail"].startswith(detail)


def test_create_returns_resource_and_location(client: httpx.Client, account: Account) -> None:
    response = _post(
        client,
        account,
        title="Server disk full",
        message="Disk usage on web-01 is at 95%\nsecond line",
        priority="critical",
        source="monitoring",
        metadata={"host": "web-01", "usage": 0.95, "tags": ["disk"]},
    )
    assert response.status_code == 201
    body = response.json()
    assert response.headers["location"] == f"{BASE}{body['id']}"
    assert body["title"] == "Server disk full"
    assert body["message"] == "Disk usage on web-01 is at 95%\nsecond line"
    assert body["priority"] == "critical"
    assert body["status"] == "unread"
    assert body["source"] == "monitoring"
    assert body["metadata"] == {"host": "web-01", "usage": 0.95, "tags": ["disk"]}
    assert body["read_at"] is None
    created = datetime.fromisoformat(body["created_at"])
    assert created.tzinfo is not None
    assert abs(created - datetime.now(UTC)) < timedelta(minutes=1)
    fetched = client.get(response.headers["location"], headers=account.headers)
    assert fetched.status_code == 200
    assert fetched.json() == body


def test_priority_defaults_to_medium_and_optionals_to_null(
    client: httpx.Client, account: Account
) -> None:
    body = _create(client, account, title="only a title")
    assert body["priority"] == "medium"
    assert body["message"] is None and body["source"] is None and body["metadata"] is None


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        ({}, 422, "title: is required"),
        ({"title": ""}, 422, "title: must not be empty"),
        ({"title": "   "}, 422, "title: must not be empty"),
        ({"title": 42}, 422, "title: must be a string"),
        ({"title": "x" * 251}, 422, "title: must be at most 250 characters"),
        ({"title": "t", "message": "m" * 10_001}, 422, "message: must be at most 10000 characters"),
        ({"title": "t", "message": ["no"]}, 422, "message: must be a string"),
        (
            {"title": "t", "priority": "urgent"},
            422,
            "priority: must be one of low, medium, high, critical",
        ),
        (
            {"title": "t", "priority": None},
            422,
            "priority: must be one of low, medium, high, critical",
        ),
        ({"title": "t", "source": "s" * 101}, 422, "source: must be at most 100 characters"),
        ({"title": "t", "metadata": [1, 2]}, 422, "metadata: must be a JSON object"),
        ({"title": "t", "metadata": "{}"}, 422, "metadata: must be a JSON object"),
        (
            {"title": "t", "metadata": {"a": "x" * 17_000}},
            422,
            "metadata: must be at most 16384 bytes as JSON",
        ),
        ({"title": "t", "status": "read"}, 422, "status: unknown field"),
    ],
)
def test_create_validation_names_the_field(
    client: httpx.Client, account: Account, body: dict[str, Any], status: int, detail: str
) -> None:
    _assert_refused(client.post(BASE, json=body, headers=account.headers), status, detail)


@pytest.mark.parametrize(
    ("content", "content_type", "status", "detail"),
    [
        (b'{"title": "x",', "application/json", 400, "request body is not valid JSON"),
        (b"", "application/json", 400, "request body is empty"),
        (b"[1, 2]", "application/json", 400, "request body must be a JSON object"),
        (b'"title"', "application/json", 400, "request body must be a JSON object"),
        (b"\xff\xfe", "application/json", 400, "request body is not valid JSON"),
        (b"[" * 100_000, "application/json", 400, "request body is not valid JSON"),
        (
            b"title=x",
            "application/x-www-form-urlencoded",
            415,
            "Content-Type must be application/json",
        ),
        (b'{"title": "x"}' + b" " * 300_000, "application/json", 413, "request body is larger"),
    ],
)
def test_malformed_bodies(
    client: httpx.Client,
    account: Account,
    content: bytes,
    content_type: str,
    status: int,
    detail: str,
) -> None:
    response = client.post(
        BASE, content=content, headers={**account.headers, "content-type": content_type}
    )
    assert response.status_code == status
    assert response.json()["detail"].startswith(detail)


def test_nothing_is_stored_by_refused_requests(client: httpx.Client, account: Account) -> None:
    client.post(BASE, json={"title": ""}, headers=account.headers)
    client.post(BASE, content=b"{", headers={**account.headers, "content-type": "application/json"})
    assert client.get(BASE, headers=account.headers).json()["total"] == 0


def test_list_is_newest_first_with_pagination(client: httpx.Client, account: Account) -> None:
    ids = [_create(client, account, title=f"n{i}")["id"] for i in range(7)]
    page = client.get(BASE, params={"limit": 3}, headers=account.headers).json()
    assert [item["id"] for item in page["items"]] == ids[::-1][:3]
    assert (page["total"], page["limit"], page["offset"]) == (7, 3, 0)
    second = client.get(BASE, params={"limit": 3, "offset": 3}, headers=account.headers).json()
    assert [item["id"] for item in second["items"]] == ids[::-1][3:6]
    beyond = client.get(BASE, params={"offset": 50}, headers=account.headers).json()
    assert beyond["items"] == [] and beyond["total"] == 7
    default = client.get(BASE, headers=account.headers).json()
    assert default["limit"] == 50 and len(default["items"]) == 7


def test_filters_and_totals(client: httpx.Client, account: Account) -> None:
    a = _create(client, account, title="a", priority="high", source="ci")
    b = _create(client, account, title="b", priority="low", source="ci")
    c = _create(client, account, title="c", priority="high", source="backup")
    _create(client, account, title="d")
    client.patch(BASE + a["id"], json={"status": "read"}, headers=account.headers)
    client.patch(BASE + c["id"], json={"status": "archived"}, headers=account.headers)

    def listed(**params: Any) -> tuple[list[str], int]:
        page = client.get(BASE, params=params, headers=account.headers).json()
        return [item["title"] for item in page["items"]], page["total"]

    assert listed(status="unread") == (["d", "b"], 2)
    assert listed(status="read") == (["a"], 1)
    assert listed(status="archived") == (["c"], 1)
    assert listed(priority="high") == (["c", "a"], 2)
    assert listed(priority="high", status="read") == (["a"], 1)
    assert listed(source="ci") == (["b", "a"], 2)
    assert listed(source="ci", priority="low") == (["b"], 1)
    assert listed(source="nothing") == ([], 0)
    assert listed() == (["d", "c", "b", "a"], 4)

    client.delete(BASE + b["id"], headers=account.headers)
    assert listed(source="ci") == (["a"], 1)
    assert listed(status="unread") == (["d"], 1)


def test_since(client: httpx.Client, account: Account) -> None:
    first = _create(client, account, title="first")
    second = _create(client, account, title="second")
    page = client.get(BASE, params={"since": first["created_at"]}, headers=account.headers).json()
    assert [item["id"] for item in page["items"]] == [second["id"]]
    assert page["total"] == 1
    # Naive timestamps are UTC; 'Z' is accepted.
    naive = first["created_at"].replace("+00:00", "")
    zulu = first["created_at"].replace("+00:00", "Z")
    for value in (naive, zulu):
        page = client.get(BASE, params={"since": value}, headers=account.headers).json()
        assert [item["id"] for item in page["items"]] == [second["id"]]


@pytest.mark.parametrize(
    ("params", "status", "detail"),
    [
        ({"since": "yesterday"}, 400, "since: expected an ISO 8601 timestamp"),
        ({"limit": "many"}, 400, "limit: expected a whole number"),
        ({"limit": "201"}, 422, "limit: must be at most 200"),
        ({"limit": "0"}, 422, "limit: must be at least 1"),
        ({"offset": "-1"}, 422, "offset: must be at least 0"),
        ({"status": "new"}, 422, "status: must be one of unread, read, archived, inbox"),
        ({"priority": "urgent"}, 422, "priority: must be one of low, medium, high, critical"),
        ({"source": "s" * 101}, 422, "source: must be at most 100 characters"),
    ],
)
def test_list_parameter_errors(
    client: httpx.Client, account: Account, params: dict[str, str], status: int, detail: str
) -> None:
    _assert_refused(client.get(BASE, params=params, headers=account.headers), status, detail)


def test_status_changes(client: httpx.Client, account: Account) -> None:
    created = _create(client, account)
    url = BASE + created["id"]
    read = client.patch(url, json={"status": "read"}, headers=account.headers)
    assert read.status_code == 200
    assert read.json()["status"] == "read" and read.json()["read_at"] is not None
    read_at = read.json()["read_at"]
    archived = client.patch(url, json={"status": "archived"}, headers=account.headers).json()
    assert archived["status"] == "archived" and archived["read_at"] == read_at
    again = client.patch(url, json={"status": "read"}, headers=account.headers).json()
    assert again["read_at"] == read_at
    unread = client.patch(url, json={"status": "unread"}, headers=account.headers).json()
    assert unread["status"] == "unread" and unread["read_at"] is None
    assert client.get(url, headers=account.headers).json() == unread


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({}, "status: is required"),
        ({"status": "done"}, "status: must be one of unread, read, archived"),
        ({"status": None}, "status: must be one of unread, read, archived"),
        ({"status": "read", "title": "x"}, "title: unknown field"),
    ],
)
def test_patch_validation(
    client: httpx.Client, account: Account, body: dict[str, Any], detail: str
) -> None:
    created = _create(client, account)
    response = client.patch(BASE + created["id"], json=body, headers=account.headers)
    assert response.status_code == 422
    assert response.json()["detail"].startswith(detail)
    assert client.get(BASE + created["id"], headers=account.headers).json()["status"] == "unread"


def test_delete(client: httpx.Client, account: Account) -> None:
    created = _create(client, account)
    url = BASE + created["id"]
    response = client.delete(url, headers=account.headers)
    assert response.status_code == 204 and response.content == b""
    assert client.get(url, headers=account.headers).status_code == 404
    assert client.delete(url, headers=account.headers).status_code == 404
    assert client.patch(url, json={"status": "read"}, headers=account.headers).status_code == 404


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
def test_unknown_id_is_404(client: httpx.Client, account: Account, method: str) -> None:
    def send(notification_id: str) -> httpx.Response:
        return client.request(
            method,
            BASE + notification_id,
            headers=account.headers,
            json={"status": "read"} if method == "PATCH" else None,
        )

    response = send("01a2150d-5823-7e35-80d1-2bf01ce8d93e")
    assert response.status_code == 404
    assert response.json() == {"detail": "notification not found", "code": "notification_not_found"}
    # Not a UUID at all: the router's own 404, before any handler or query runs.
    for not_an_id in ("not-a-uuid", "%27%20OR%201=1", "01a2150d-5823-7e35-80d1-2bf01ce8d93"):
        response = send(not_an_id)
        assert response.status_code == 404
        assert response.json() == {"detail": "not found", "code": "not_found"}


@pytest.mark.anyio
async def test_concurrent_posts_are_all_committed(server: ServerProcess, account: Account) -> None:
    results: list[int] = []
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(base_url=server.url, limits=limits, timeout=30) as http:

        async def post(index: int) -> None:
            response = await http.post(BASE, json={"title": f"c{index}"}, headers=account.headers)
            results.append(response.status_code)

        async with anyio.create_task_group() as group:
            for index in range(200):
                group.start_soon(post, index)
        assert results == [201] * 200
        titles: set[str] = set()
        for offset in (0, 200):
            page = (
                await http.get(
                    BASE, params={"limit": 200, "offset": offset}, headers=account.headers
                )
            ).json()
            titles.update(item["title"] for item in page["items"])
        assert page["total"] == 200
    assert titles == {f"c{index}" for index in range(200)}


def test_inbox_filter_hides_archived(client: httpx.Client, account: Account) -> None:
    kept = _create(client, account, title="kept")
    archived = _create(client, account, title="archived")
    client.patch(BASE + archived["id"], json={"status": "archived"}, headers=account.headers)
    page = client.get(BASE, params={"status": "inbox"}, headers=account.headers).json()
    assert [item["id"] for item in page["items"]] == [kept["id"]]
    assert page["total"] == 1


def test_mark_all_read(client: httpx.Client, account: Account) -> None:
    ids = [_create(client, account, title=f"r{i}")["id"] for i in range(3)]
    client.patch(BASE + ids[0], json={"status": "archived"}, headers=account.headers)
    response = client.post(BASE + "read-all", headers=account.headers)
    assert response.status_code == 200
    assert response.json()["updated"] == 2
    statuses = {
        item["id"]: item["status"]
        for item in client.get(BASE, headers=account.headers).json()["items"]
    }
    assert statuses == {ids[0]: "archived", ids[1]: "read", ids[2]: "read"}
    assert client.post(BASE + "read-all", headers=account.headers).json()["updated"] == 0


def test_an_empty_message_and_status_all(client: httpx.Client, account: Account) -> None:
    created = client.post(BASE, json={"title": "t", "message": ""}, headers=account.headers)
    assert created.status_code == 201
    assert created.json()["message"] == ""
    client.patch(BASE + created.json()["id"], json={"status": "archived"}, headers=account.headers)
    assert client.get(BASE, params={"status": "all"}, headers=account.headers).json()["total"] == 1
    assert client.get(BASE, headers=account.headers).json()["total"] == 1  # no filter: all
    assert (
        client.get(BASE, params={"status": "inbox"}, headers=account.headers).json()["total"] == 0
    )
