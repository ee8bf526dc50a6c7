"""The SSE stream and the changes feed through a real server and real HTTP streaming."""

from __future__ import annotations

import anyio
import pytest

from tests.serverproc import Account, ServerProcess
from tests.sseclient import STREAM, EventReader, async_client, open_stream, post_notification

BASE = "/api/notifications/"
pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def server_settings() -> dict[str, str]:
    return {"SSE_KEEPALIVE_SECONDS": "0.3", "SSE_QUEUE_LIMIT": "100"}


async def test_live_events_for_create_status_change_and_delete(
    server: ServerProcess, account: Account
) -> None:
    async with async_client(server.url) as http, open_stream(http, account.headers) as stream:
        assert stream.response.headers["content-type"] == "text/event-stream; charset=utf-8"
        assert stream.response.headers["cache-control"] == "no-store"
        assert stream.response.headers["x-accel-buffering"] == "no"
        created = await post_notification(
            http, account, title="live", message="two\nlines", priority="high"
        )
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


async def test_head_of_the_stream_is_only_a_head(server: ServerProcess, account: Account) -> None:
    """HEAD answers what GET would, without a body: no stream is opened behind it, so nothing
    is ever written after the head and the connection serves the next request."""
    async with async_client(server.url) as http:
        head = await http.head(STREAM, headers=account.headers, timeout=5)
        assert head.status_code == 200
        assert head.headers["content-type"].startswith("text/event-stream")
        assert (await http.get("/healthz", timeout=5)).status_code == 200  # the same connection


async def test_replay_after_reconnect_with_last_event_id(
    server: ServerProcess, account: Account
) -> None:
    async with async_client(server.url) as http:
        async with open_stream(http, account.headers) as stream:
            first = await post_notification(http, account, title="seen")
            seen = await stream.next_named("notification")
            assert seen.json["id"] == first["id"]
        # While disconnected: a new one, a read, and a delete of the one already seen.
        missed = await post_notification(http, account, title="missed")
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
        created = await post_notification(http, account)
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
        first = await post_notification(http, account, title="first")
        second = await post_notification(http, account, title="second")
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
        await post_notification(http, account)
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
            await post_notification(http, alice, title=f"alice {index}")
            await post_notification(http, bob, title=f"bob {index}")
        alice_titles = [
            (await alice_stream.next_named("notification")).json["title"] for _ in range(10)
        ]
        bob_titles = [
            (await bob_stream.next_named("notification")).json["title"] for _ in range(10)
        ]
        # A marker after the others proves nothing else was queued for either stream.
        await post_notification(http, alice, title="alice end")
        await post_notification(http, bob, title="bob end")
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
        created = await post_notification(http, account)
        assert (await phone.next_named("notification")).json["id"] == created["id"]
        assert (await laptop.next_named("notification")).json["id"] == created["id"]
