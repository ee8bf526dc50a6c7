"""Replay exactness: the changes feed and the stream against random writes and reconnects."""

from __future__ import annotations

import random
from typing import Any

import anyio
import httpx
import pytest

from tests.serverproc import Account, ServerProcess
from tests.sseclient import async_client, open_stream, post_notification

BASE = "/api/notifications/"
pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def server_settings() -> dict[str, str]:
    # Keepalives a third of a second apart let a caught-up reader notice the writer finished.
    return {"SSE_KEEPALIVE_SECONDS": "0.3"}


async def test_changes_feed_reports_reads_and_deletes_from_another_token(
    server: ServerProcess,
) -> None:
    phone = server.account("sync-phone")
    laptop = server.account("sync-laptop", user_id=phone.user_id)
    async with async_client(server.url) as http:
        start = (await http.get(BASE + "changes", headers=phone.headers)).json()
        assert start == {
            "notifications": [],
            "deleted": [],
            "cursor": start["cursor"],
            "has_more": False,
            "reset": False,
        }
        keep = await post_notification(http, laptop, title="keep")
        gone = await post_notification(http, laptop, title="gone")
        await http.patch(BASE + keep["id"], json={"status": "read"}, headers=laptop.headers)
        await http.delete(BASE + gone["id"], headers=laptop.headers)

        changes = (
            await http.get(
                BASE + "changes", params={"after": start["cursor"]}, headers=phone.headers
            )
        ).json()
        assert [n["id"] for n in changes["notifications"]] == [keep["id"]]
        assert changes["notifications"][0]["status"] == "read"
        assert changes["deleted"] == [gone["id"]]
        assert changes["cursor"] > start["cursor"] and changes["has_more"] is False

        again = (
            await http.get(
                BASE + "changes", params={"after": changes["cursor"]}, headers=phone.headers
            )
        ).json()
        assert again["notifications"] == [] and again["deleted"] == []

        paged = (
            await http.get(
                BASE + "changes",
                params={"after": start["cursor"], "limit": 1},
                headers=phone.headers,
            )
        ).json()
        assert (
            paged["has_more"] is True and len(paged["notifications"]) + len(paged["deleted"]) == 1
        )

        future = (
            await http.get(BASE + "changes", params={"after": 10**12}, headers=phone.headers)
        ).json()
        assert future["reset"] is True
        limit = await http.get(BASE + "changes", params={"limit": 5000}, headers=phone.headers)
        assert limit.status_code == 422


def _apply(state: dict[str, dict[str, Any]], event_name: str, data: dict[str, Any]) -> None:
    """What a client does with each event: its copy of the notifications follows the server's."""
    if event_name == "notification":
        state[data["id"]] = data
    elif event_name == "status_change":
        state[data["id"]].update(status=data["status"], read_at=data["read_at"])
    elif event_name == "deleted":
        state.pop(data["id"], None)


async def _random_writes(
    http: httpx.AsyncClient, account: Account, rng: random.Random, steps: int
) -> int:
    """Random creates, status changes and deletes; returns the cursor after the last."""
    ids: list[str] = []
    for step in range(steps):
        roll = rng.random()
        if roll < 0.5 or not ids:
            ids.append((await post_notification(http, account, title=f"p{step}"))["id"])
        elif roll < 0.85:
            status = rng.choice(["read", "unread", "archived"])
            await http.patch(
                BASE + rng.choice(ids), json={"status": status}, headers=account.headers
            )
        else:
            victim = ids.pop(rng.randrange(len(ids)))
            await http.delete(BASE + victim, headers=account.headers)
    changes = await http.get(BASE + "changes", params={"limit": 1000}, headers=account.headers)
    return int(changes.json()["cursor"])


async def test_replay_is_exact_under_concurrent_writes_and_random_reconnects(
    server: ServerProcess,
) -> None:
    """Random creates, status changes and deletes, with the client dropping and resuming at
    random points while writes continue: applying everything it received must give exactly
    the server's final state, cursors strictly increasing across connections (no duplicates)."""
    account = server.account("sse-property")
    rng = random.Random(20261125)
    client_state: dict[str, dict[str, Any]] = {}
    received: list[int] = []
    writes_done = anyio.Event()
    final_cursor = 0

    async with async_client(server.url) as http:

        async def writer() -> None:
            nonlocal final_cursor
            final_cursor = await _random_writes(http, account, rng, steps=150)
            writes_done.set()

        async def reader() -> None:
            cursor = 0
            async with open_stream(http, account.headers) as stream:
                assert stream.ready is not None
                cursor = stream.ready.cursor

            def caught_up() -> bool:
                return writes_done.is_set() and cursor >= final_cursor

            while not caught_up():
                quota = rng.randint(1, 12)
                async with open_stream(
                    http, account.headers, last_event_id=cursor, wait_ready=False
                ) as stream:
                    while quota > 0 and not caught_up():
                        event = await stream.next(timeout=10)
                        if event.name == "comment" or event.id is None:
                            continue
                        assert event.name != "reset"
                        if event.name != "ready":
                            received.append(event.cursor)
                            _apply(client_state, event.name, event.json)
                            quota -= 1
                        cursor = event.cursor

        async with anyio.create_task_group() as group:
            group.start_soon(writer)
            group.start_soon(reader)

        server_items = (
            await http.get(BASE, params={"limit": 200}, headers=account.headers)
        ).json()["items"]
    assert received == sorted(received) and len(received) == len(set(received))
    assert {item["id"]: item for item in server_items} == client_state
    assert len(client_state) > 10
