"""broker.py: fan-out of committed changes to each user's subscriptions."""

from __future__ import annotations

import asyncio

import pytest

from pnotify.broker import Broker, CloseReason
from pnotify.changes import Change

pytestmark = pytest.mark.anyio


def _change(user_id: str, cursor: int) -> Change:
    return Change("deleted", user_id, cursor, f"n{cursor}", None)


async def test_publish_reaches_only_that_users_subscriptions() -> None:
    broker = Broker(keepalive_seconds=60, queue_limit=10)
    alice = broker.subscribe("alice", "t1", None)
    bob = broker.subscribe("bob", None, "s1")
    broker.publish([_change("alice", 1), _change("alice", 2), _change("carol", 3)])
    assert [c.cursor for c in await alice.drain() or []] == [1, 2]
    broker.publish([_change("bob", 4)])
    assert [c.cursor for c in await bob.drain() or []] == [4]
    assert broker.subscriber_count == 2
    broker.unsubscribe(alice)
    broker.unsubscribe(bob)
    assert broker.subscriber_count == 0


async def test_drain_waits_for_a_change() -> None:
    broker = Broker(keepalive_seconds=60)
    subscription = broker.subscribe("alice", None, None)
    waiting = asyncio.ensure_future(subscription.drain())
    await asyncio.sleep(0)  # let drain() start waiting
    assert not waiting.done()
    broker.publish([_change("alice", 7)])
    drained = await asyncio.wait_for(waiting, 5)
    assert drained is not None
    assert [c.cursor for c in drained] == [7]


async def test_a_full_queue_closes_the_subscription_and_frees_it() -> None:
    closed: list[CloseReason] = []
    broker = Broker(keepalive_seconds=60, queue_limit=3)
    subscription = broker.subscribe("alice", None, None, on_close=closed.append)
    broker.publish([_change("alice", cursor) for cursor in range(1, 5)])
    assert subscription.closed is CloseReason.TOO_SLOW
    assert closed == [CloseReason.TOO_SLOW]
    assert await subscription.drain() is None  # nothing queued is kept for a closed stream


async def test_close_where_picks_by_token_or_session() -> None:
    closed: list[tuple[str, CloseReason]] = []
    broker = Broker(keepalive_seconds=60)
    by_token = broker.subscribe("u", "t1", None, lambda r: closed.append(("token", r)))
    by_session = broker.subscribe("u", None, "s1", lambda r: closed.append(("session", r)))
    other = broker.subscribe("u", "t2", None)
    assert broker.token_ids() == {"t1", "t2"}
    assert broker.close_where(CloseReason.REVOKED, token_id="t1") == 1
    assert broker.close_where(CloseReason.REVOKED, session_id="s1") == 1
    assert closed == [("token", CloseReason.REVOKED), ("session", CloseReason.REVOKED)]
    assert by_token.closed is by_session.closed is CloseReason.REVOKED
    assert other.closed is None
    by_token.close(CloseReason.SHUTDOWN)  # a second close changes nothing
    assert by_token.closed is CloseReason.REVOKED
    assert len(closed) == 2


async def test_keepalive_ticks_every_subscription() -> None:
    broker = Broker(keepalive_seconds=0.01)
    broker.start()
    try:
        first = broker.subscribe("a", None, None)
        second = broker.subscribe("b", None, None)
        assert await asyncio.wait_for(first.drain(), 5) == []  # a keepalive, no changes
        assert await asyncio.wait_for(second.drain(), 5) == []
    finally:
        await broker.stop()
    assert first.closed is second.closed is CloseReason.SHUTDOWN


async def test_a_change_is_encoded_once_for_every_stream() -> None:
    from pnotify.handlers.sync import change_event

    broker = Broker(keepalive_seconds=60)
    streams = [broker.subscribe("alice", None, None) for _ in range(3)]
    broker.publish([_change("alice", 9)])
    encoded = []
    for subscription in streams:
        (change,) = await subscription.drain() or []
        encoded.append(change_event(change))
    assert encoded[0] == b'id: 9\nevent: deleted\ndata: {"id":"n9"}\n\n'
    assert encoded[0] is encoded[1] is encoded[2]  # one encoding, shared


async def test_delivering_at_once_sends_what_was_queued_first() -> None:
    broker = Broker(keepalive_seconds=60)
    subscription = broker.subscribe("alice", None, None)
    broker.publish([_change("alice", 1), _change("alice", 2)])
    delivered: list[list[int]] = []
    subscription.deliver_at_once(lambda changes: delivered.append([c.cursor for c in changes]))
    broker.publish([_change("alice", 3)])
    subscription.ping()
    assert delivered == [[1, 2], [3], []]  # the queue, then each change, then a keepalive
    waiting = asyncio.ensure_future(subscription.drain())
    await asyncio.sleep(0)
    assert not waiting.done()  # nothing is queued for the stream's task any more
    subscription.close(CloseReason.REVOKED)
    assert await asyncio.wait_for(waiting, 5) is None
    broker.publish([_change("alice", 4)])
    subscription.ping()
    assert delivered == [[1, 2], [3], []]  # nothing after the close


async def test_closing_everything_when_each_close_unsubscribes_at_once() -> None:
    """A stream outside ASGI unsubscribes inside its close callback, while the broker is still
    going over its subscriptions (at shutdown, on revocation, at a keepalive that finds it too
    slow): every one must still be reached."""
    broker = Broker(keepalive_seconds=60)
    closed: list[CloseReason] = []

    def subscribe(user_id: str, token_id: str) -> None:
        subscription = broker.subscribe(user_id, token_id, None)

        def on_close(reason: CloseReason) -> None:
            closed.append(reason)
            broker.unsubscribe(subscription)

        subscription.on_close = on_close

    for number in range(3):
        subscribe("alice", "t1")
        subscribe(f"user-{number}", "t2")
    assert broker.close_where(CloseReason.REVOKED, token_id="t1") == 3
    broker.close_all(CloseReason.SHUTDOWN)
    assert closed == [CloseReason.REVOKED] * 3 + [CloseReason.SHUTDOWN] * 3
    assert broker.subscriber_count == 0
