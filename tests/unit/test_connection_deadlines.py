"""The registry's deadlines (connections.py): one alarm for every connection, each told once its
own deadline has passed, in order, and never after it stopped waiting."""

from __future__ import annotations

import asyncio

import pytest

from pnotify.connections import ConnectionLimits, ConnectionRegistry

pytestmark = pytest.mark.anyio

SHORT = 0.05


class Waiter:
    """A connection as the registry sees it, noting what it was told."""

    def __init__(self, name: str, told: list[str], done: asyncio.Event, expected: int) -> None:
        self.name, self.told, self.done, self.expected = name, told, done, expected

    def close_now(self) -> None:
        self._note("closed")

    def head_too_slow(self) -> None:
        self._note("head")

    def body_too_slow(self) -> None:
        self._note("body")

    def _note(self, what: str) -> None:
        self.told.append(f"{self.name}: {what}")
        if len(self.told) == self.expected:
            self.done.set()


def _registry() -> ConnectionRegistry:
    return ConnectionRegistry(ConnectionLimits(head_timeout=SHORT, body_timeout=2 * SHORT))


async def test_each_late_connection_is_told_once_in_deadline_order() -> None:
    registry = _registry()
    told: list[str] = []
    done = asyncio.Event()
    first, second, third, fourth = (Waiter(n, told, done, 3) for n in ("1", "2", "3", "4"))
    for waiter in (first, second, third, fourth):
        registry.waiting_for_head(waiter, True)
    registry.waiting_for_head(second, False)  # its head came in time
    registry.receiving_body(second, True)  # but its body is late
    await asyncio.sleep(SHORT / 2)  # not a wait for anything: a later deadline for the next
    registry.waiting_for_head(first, True)  # waiting again (kept alive): due after 3
    registry.forget(fourth)  # gone: never told
    await asyncio.wait_for(done.wait(), 5)
    assert told == ["3: head", "1: head", "2: body"]
    assert not registry.waiting and not registry.receiving


async def test_a_connection_that_stops_waiting_is_not_told() -> None:
    registry = _registry()
    told: list[str] = []
    done = asyncio.Event()
    early, on_time = Waiter("early", told, done, 1), Waiter("on time", told, done, 1)
    registry.waiting_for_head(on_time, True)
    registry.waiting_for_head(early, True)
    registry.waiting_for_head(on_time, False)
    registry.receiving_body(on_time, True)
    registry.receiving_body(on_time, False)
    await asyncio.wait_for(done.wait(), 5)
    assert told == ["early: head"]
    registry.stop_waiting(early)  # nothing awaited: the registry holds no deadline for it
    assert not registry.waiting and not registry.receiving
