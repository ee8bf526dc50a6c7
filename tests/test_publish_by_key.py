"""Update by key, and Idempotency-Key retries, through the native API and the stream."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.serverproc import Account, ServerProcess
from tests.sseclient import async_client, open_stream

BASE = "/api/notifications/"


def _post(
    client: httpx.Client, account: Account, headers: dict[str, str] | None = None, **body: Any
) -> httpx.Response:
    return client.post(BASE, json=body, headers={**account.headers, **(headers or {})})


def test_a_key_updates_instead_of_creating(client: httpx.Client, account: Account) -> None:
    first = _post(client, account, title="disk 90%", key="disk-web-01", priority="high")
    assert first.status_code == 201
    created = first.json()
    assert created["key"] == "disk-web-01"
    client.patch(BASE + created["id"], json={"status": "read"}, headers=account.headers)
    again = _post(client, account, title="disk 95%", key="disk-web-01", priority="critical")
    assert again.status_code == 200
    updated = again.json()
    assert updated["id"] == created["id"]
    assert (updated["title"], updated["priority"]) == ("disk 95%", "critical")
    assert (updated["status"], updated["read_at"]) == ("unread", None)  # attention again
    listed = client.get(BASE, headers=account.headers).json()
    assert listed["total"] == 1


def test_a_silent_update_keeps_the_read_state(client: httpx.Client, account: Account) -> None:
    created = _post(client, account, title="backup failed", key="backup").json()
    client.patch(BASE + created["id"], json={"status": "read"}, headers=account.headers)
    resolved = _post(client, account, title="backup ok", key="backup", silent=True).json()
    assert resolved["status"] == "read"
    assert resolved["title"] == "backup ok"


def test_archived_notifications_are_not_updated(client: httpx.Client, account: Account) -> None:
    old = _post(client, account, title="job", key="nightly").json()
    client.patch(BASE + old["id"], json={"status": "archived"}, headers=account.headers)
    new = _post(client, account, title="job", key="nightly")
    assert new.status_code == 201
    assert new.json()["id"] != old["id"]


def test_keys_belong_to_their_user(server: ServerProcess, client: httpx.Client) -> None:
    alice, bob = server.account("alice-key"), server.account("bob-key")
    mine = _post(client, alice, title="a", key="shared-name").json()
    theirs = _post(client, bob, title="b", key="shared-name")
    assert theirs.status_code == 201
    assert theirs.json()["id"] != mine["id"]


@pytest.mark.anyio
async def test_updates_stream_replay_and_unchanged_updates_emit_nothing(
    server: ServerProcess, account: Account
) -> None:
    async with async_client(server.url) as http:
        async with open_stream(http, account.headers) as stream:
            created = (
                await http.post(BASE, json={"title": "v1", "key": "k"}, headers=account.headers)
            ).json()
            await stream.next_named("notification")
            same = await http.post(BASE, json={"title": "v1", "key": "k"}, headers=account.headers)
            assert same.status_code == 200
            await http.post(BASE, json={"title": "v2", "key": "k"}, headers=account.headers)
            event = await stream.next_named("updated", "notification", "status_change")
            assert event.name == "updated"  # the unchanged re-post sent nothing before it
            assert event.json["title"] == "v2"
            assert event.json["id"] == created["id"]
            last = event.cursor
        # A device that saw only the creation replays the update, whole.
        async with open_stream(
            http, account.headers, last_event_id=last - 1, wait_ready=False
        ) as again:
            names = []
            while (event := await again.next()).name != "ready":
                names.append(event.name)
            assert names == ["updated"]
        changes = (
            await http.get(BASE + "changes", params={"after": last - 1}, headers=account.headers)
        ).json()
        assert [n["title"] for n in changes["notifications"]] == ["v2"]


def test_idempotency_key_replays_the_first_answer(client: httpx.Client, account: Account) -> None:
    headers = {"Idempotency-Key": "retry-7f3a"}
    first = _post(client, account, headers, title="once")
    again = _post(client, account, headers, title="once")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["idempotent-replay"] == "true"
    assert client.get(BASE, headers=account.headers).json()["total"] == 1
    other = _post(client, account, headers, title="something else")
    assert other.status_code == 422
    assert other.json()["detail"].startswith("Idempotency-Key: was already used")
    bad = _post(client, account, {"Idempotency-Key": "has spaces"}, title="x")
    assert bad.status_code == 400
    assert bad.json()["detail"].startswith("Idempotency-Key: ")


def test_idempotency_keys_are_per_token(server: ServerProcess, client: httpx.Client) -> None:
    one, two = server.account("idem-one"), server.account("idem-two")
    headers = {"Idempotency-Key": "same-key"}
    assert _post(client, one, headers, title="a").status_code == 201
    assert _post(client, two, headers, title="b").status_code == 201
