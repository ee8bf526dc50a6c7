"""The SSE stream and the changes feed through a real server and real HTTP streaming."""

from __future__ import annotations

import json
import random
import socket
from typing import Any

import anyio
import httpx
import pytest

from tests.serverproc import Account, ServerProcess, eventually
from tests.sseclient import STREAM, EventReader, async_client, open_stream

BASE = "/api/notifications/"
pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def server_settings() -> dict[str, str]:
    return {"SSE_KEEPALIVE_SECONDS": "0.3", "SSE_QUEUE_LIMIT": "100"}


def _closed_streams(server: ServerProcess, reason: str) -> int:
    return sum(
        1
        for entry in server.log_entries()
        if entry.get("event") == "stream closed" and entry.get("reason") == reason
    )


async def _create(http: httpx.AsyncClient, account: Account, **body: Any) -> dict[str, Any]:
    body.setdefault("title", "hello")
    response = await http.post(BASE, json=body, headers=account.headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def test_live_events_for_create_status_change_and_delete(
    server: ServerProcess, account: Account
) -> None:
    async with async_client(server.url) as http, open_stream(http, account.headers) as stream:
        assert stream.response.headers["content-type"] == "text/event-stream; charset=utf-8"
        assert stream.response.headers["cache-control"] == "no-store"
        assert stream.response.headers["x-accel-buffering"] == "no"
        created = await _create(http, account, title="live", message="two\nlines", priority="high")
        event = await stream.next_named("notification")
        assert event.json == created
        assert event.cursor > stream.ready.cursor  # type: ignore[union-attr]

        read = (
            await http.patch(BASE + created["id"], json={"status": "read"}, headers=account.headers)
        ).json()
        change = await stream.next_named("status_change")
        assert change.json == {"id": created["id"], "status": "read", "read_at": read["read_at"]}
        assert change.cursor > event.cursor

        assert (await http.delete(BASE + created["id"], headers=account.headers)).status_code == 204
        deleted = await stream.next_named("deleted")
        assert deleted.json == {"id": created["id"]}
        assert deleted.cursor > change.cursor


async def test_stream_starts_with_retry_and_sends_keepalives(
    server: ServerProcess, account: Account
) -> None:
    async with (
        async_client(server.url) as http,
        http.stream("GET", STREAM, headers=account.headers) as response,
    ):
        lines = response.aiter_lines()
        with anyio.fail_after(5):
            assert await lines.__anext__() == "retry: 3000"
        reader = EventReader(response)
        reader._lines = lines
        await reader.next_named("ready")
        keepalive = await reader.next(timeout=5)
        assert keepalive.name == "comment"


async def test_replay_after_reconnect_with_last_event_id(
    server: ServerProcess, account: Account
) -> None:
    async with async_client(server.url) as http:
        async with open_stream(http, account.headers) as stream:
            first = await _create(http, account, title="seen")
            seen = await stream.next_named("notification")
            assert seen.json["id"] == first["id"]
        # While disconnected: a new one, a read, and a delete of the one already seen.
        missed = await _create(http, account, title="missed")
        await http.patch(BASE + missed["id"], json={"status": "read"}, headers=account.headers)
        await http.delete(BASE + first["id"], headers=account.headers)

        async with open_stream(
            http, account.headers, last_event_id=seen.id, wait_ready=False
        ) as stream:
            replayed_new = await stream.next()
            replayed_delete = await stream.next()
            ready = await stream.next()
        assert replayed_new.name == "notification"
        assert replayed_new.json["id"] == missed["id"] and replayed_new.json["status"] == "read"
        assert (replayed_delete.name, replayed_delete.json) == ("deleted", {"id": first["id"]})
        assert ready.name == "ready"
        assert replayed_new.cursor < replayed_delete.cursor == ready.cursor

        # The same through ?after= for clients that cannot set headers.
        async with open_stream(
            http, account.headers, params={"after": seen.id}, wait_ready=False
        ) as stream:
            assert (await stream.next()).json["id"] == missed["id"]


async def test_status_change_is_replayed_for_a_notification_seen_before(
    server: ServerProcess, account: Account
) -> None:
    async with async_client(server.url) as http:
        created = await _create(http, account)
        async with open_stream(http, account.headers) as stream:
            cursor = stream.ready.cursor  # type: ignore[union-attr]
        await http.patch(BASE + created["id"], json={"status": "archived"}, headers=account.headers)
        async with open_stream(
            http, account.headers, last_event_id=cursor, wait_ready=False
        ) as stream:
            event = await stream.next()
        assert event.name == "status_change"
        assert event.json == {"id": created["id"], "status": "archived", "read_at": None}


async def test_notification_id_as_last_event_id(server: ServerProcess, account: Account) -> None:
    async with async_client(server.url) as http:
        first = await _create(http, account, title="first")
        second = await _create(http, account, title="second")
        async with open_stream(
            http, account.headers, last_event_id=first["id"], wait_ready=False
        ) as stream:
            event = await stream.next()
            assert event.json["id"] == second["id"]
            assert (await stream.next()).name == "ready"


@pytest.mark.parametrize("last_event_id", ["99999999", "01a2150d-5823-7e35-80d1-2bf01ce8d93e"])
async def test_unreplayable_cursor_gets_reset(
    server: ServerProcess, account: Account, last_event_id: str
) -> None:
    async with async_client(server.url) as http:
        await _create(http, account)
        async with open_stream(
            http, account.headers, last_event_id=last_event_id, wait_ready=False
        ) as stream:
            reset = await stream.next()
            ready = await stream.next()
    assert reset.name == "reset"
    assert reset.json["cursor"] == reset.cursor == ready.cursor


async def test_bad_cursor_and_credentials(server: ServerProcess, account: Account) -> None:
    publisher = server.account("sse-publisher", scope="publish", user_id=account.user_id)
    async with async_client(server.url) as http:
        bad = await http.get(STREAM, headers={**account.headers, "Last-Event-ID": "yesterday"})
        assert bad.status_code == 400
        assert bad.json()["detail"].startswith("Last-Event-ID: expected a change cursor")
        assert (
            await http.get(STREAM, params={"after": "x"}, headers=account.headers)
        ).status_code == 400
        assert (await http.get(STREAM)).status_code == 401
        assert (await http.get(STREAM, headers=publisher.headers)).status_code == 403
        assert (await http.get(BASE + "changes", headers=publisher.headers)).status_code == 403


async def test_users_never_see_each_others_events(server: ServerProcess) -> None:
    alice, bob = server.account("sse-alice"), server.account("sse-bob")
    async with (
        async_client(server.url) as http,
        open_stream(http, alice.headers) as alice_stream,
        open_stream(http, bob.headers) as bob_stream,
    ):
        for index in range(10):
            await _create(http, alice, title=f"alice {index}")
            await _create(http, bob, title=f"bob {index}")
        alice_titles = [
            (await alice_stream.next_named("notification")).json["title"] for _ in range(10)
        ]
        bob_titles = [
            (await bob_stream.next_named("notification")).json["title"] for _ in range(10)
        ]
        # A marker after the others proves nothing else was queued for either stream.
        await _create(http, alice, title="alice end")
        await _create(http, bob, title="bob end")
        assert (await alice_stream.next_named("notification")).json["title"] == "alice end"
        assert (await bob_stream.next_named("notification")).json["title"] == "bob end"
    assert alice_titles == [f"alice {index}" for index in range(10)]
    assert bob_titles == [f"bob {index}" for index in range(10)]
    # Replaying from zero shows only one's own changes too.
    async with async_client(server.url) as http:
        changes = (
            await http.get(BASE + "changes", params={"after": 0}, headers=alice.headers)
        ).json()
    assert {n["title"] for n in changes["notifications"]} == {f"alice {i}" for i in range(10)} | {
        "alice end"
    }


async def test_several_streams_of_one_user_all_receive(
    server: ServerProcess, account: Account
) -> None:
    async with (
        async_client(server.url) as http,
        open_stream(http, account.headers) as phone,
        open_stream(http, account.headers) as laptop,
    ):
        created = await _create(http, account)
        assert (await phone.next_named("notification")).json["id"] == created["id"]
        assert (await laptop.next_named("notification")).json["id"] == created["id"]


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
        keep = await _create(http, laptop, title="keep")
        gone = await _create(http, laptop, title="gone")
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

    def apply(event_name: str, data: dict[str, Any]) -> None:
        if event_name == "notification":
            client_state[data["id"]] = data
        elif event_name == "status_change":
            client_state[data["id"]].update(status=data["status"], read_at=data["read_at"])
        elif event_name == "deleted":
            client_state.pop(data["id"], None)

    async with async_client(server.url) as http:

        async def writer() -> None:
            ids: list[str] = []
            for step in range(150):
                roll = rng.random()
                if roll < 0.5 or not ids:
                    ids.append((await _create(http, account, title=f"p{step}"))["id"])
                elif roll < 0.85:
                    status = rng.choice(["read", "unread", "archived"])
                    await http.patch(
                        BASE + rng.choice(ids), json={"status": status}, headers=account.headers
                    )
                else:
                    victim = ids.pop(rng.randrange(len(ids)))
                    await http.delete(BASE + victim, headers=account.headers)
            nonlocal final_cursor
            changes = await http.get(
                BASE + "changes", params={"limit": 1000}, headers=account.headers
            )
            final_cursor = changes.json()["cursor"]
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
                            apply(event.name, event.json)
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


async def test_disconnect_frees_the_subscription(server: ServerProcess, account: Account) -> None:
    before = _closed_streams(server, "disconnected")
    async with async_client(server.url) as http:
        for _ in range(3):
            async with open_stream(http, account.headers):
                pass
    await eventually(lambda: _closed_streams(server, "disconnected") >= before + 3)


async def test_slow_consumer_is_cut_off(server: ServerProcess) -> None:
    account = server.account("sse-slow")
    before = _closed_streams(server, "too slow")
    host, port = server.url.removeprefix("http://").split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, int(port)))
    request = f"GET {STREAM} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {account.token}\r\n"
    sock.sendall(request.encode() + b"\r\n")
    # Read until the ready event, so the subscription exists; then never read again.
    received = b""
    while b"event: ready" not in received:
        received += sock.recv(4096)
    try:
        big = "x" * 9_000
        async with async_client(server.url) as http:
            for _ in range(600):
                await http.post(
                    BASE, json={"title": "flood", "message": big}, headers=account.headers
                )
        await eventually(lambda: _closed_streams(server, "too slow") > before, timeout=20)
        # The server let go of the connection: what it had buffered drains, then EOF.
        sock.settimeout(10)
        while sock.recv(1 << 20):
            pass
    finally:
        sock.close()


async def test_revoking_a_token_closes_its_streams(server: ServerProcess) -> None:
    account = server.account("sse-revoked")
    async with async_client(server.url) as http, open_stream(http, account.headers) as stream:
        server.revoke_elsewhere(account.token_id)
        await stream.until_end(timeout=3)
    assert any(
        entry.get("event") == "stream closed" and entry.get("reason") == "credentials revoked"
        for entry in server.log_entries()
    )


async def test_shutdown_with_open_streams_is_prompt(tmp_path: Any) -> None:
    running = ServerProcess.start(tmp_path / "data")
    account = running.account("sse-shutdown")
    try:
        async with async_client(running.url) as http, anyio.create_task_group() as group:
            ready = 0
            all_ready = anyio.Event()

            async def hold() -> None:
                nonlocal ready
                async with open_stream(http, account.headers) as stream:
                    ready += 1
                    if ready == 200:
                        all_ready.set()
                    await stream.until_end(timeout=10)

            for _ in range(200):
                group.start_soon(hold)
            with anyio.fail_after(30):
                await all_ready.wait()
            running.process.send_signal(2)  # type: ignore[union-attr]
            code = await anyio.to_thread.run_sync(running.process.wait, 10)  # type: ignore[union-attr]
    finally:
        running.stop()
    assert code == 0
    # The streams ended themselves; uvicorn did not have to time out and cancel them.
    assert not any("graceful shutdown exceeded" in line for line in running.lines)
    closed = [e for e in running.log_entries() if e.get("event") == "stream closed"]
    assert len(closed) == 200 and {e["reason"] for e in closed} == {"server shutting down"}
    assert json.dumps(closed).count(account.token) == 0
