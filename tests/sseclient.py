"""A small SSE reader over httpx streaming, for tests against a real server."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx

from tests.serverproc import Account

STREAM = "/api/notifications/stream"


@dataclass
class SSEEvent:
    name: str = "message"
    data: str = ""
    id: str | None = None
    comments: list[str] = field(default_factory=list)

    @property
    def json(self) -> Any:
        return json.loads(self.data)

    @property
    def cursor(self) -> int:
        assert self.id is not None
        return int(self.id)


class EventReader:
    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._lines = response.aiter_lines()
        self.ready: SSEEvent | None = None

    async def next(self, timeout: float = 10.0) -> SSEEvent:
        """The next dispatched event or comment block (a `:` keepalive is name 'comment')."""
        event = SSEEvent()
        data: list[str] = []
        seen_field = False
        with anyio.fail_after(timeout):
            async for line in self._lines:
                if line == "":
                    if data:
                        event.data = "\n".join(data)
                        return event
                    if event.comments:
                        event.name = "comment"
                        return event
                    if seen_field:  # id-only or retry-only block: nothing to dispatch
                        event, seen_field = SSEEvent(), False
                    continue
                if line.startswith(":"):
                    event.comments.append(line[1:].strip())
                    continue
                key, _, value = line.partition(":")
                value = value[1:] if value.startswith(" ") else value
                seen_field = True
                if key == "data":
                    data.append(value)
                elif key == "event":
                    event.name = value
                elif key == "id":
                    event.id = value
            raise EOFError("stream ended")

    async def until_end(self, timeout: float = 10.0) -> list[SSEEvent]:
        """Everything until the server ends the stream; fails if it does not end in time."""
        events: list[SSEEvent] = []
        with anyio.fail_after(timeout):
            while True:
                try:
                    events.append(await self.next(timeout))
                except EOFError:
                    return events

    async def next_named(self, *names: str, timeout: float = 10.0) -> SSEEvent:
        while True:
            event = await self.next(timeout)
            if event.name in names:
                return event


@asynccontextmanager
async def open_stream(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    *,
    last_event_id: str | int | None = None,
    params: dict[str, Any] | None = None,
    wait_ready: bool = True,
) -> AsyncIterator[EventReader]:
    request_headers = dict(headers)
    if last_event_id is not None:
        request_headers["Last-Event-ID"] = str(last_event_id)
    async with client.stream("GET", STREAM, headers=request_headers, params=params) as response:
        reader = EventReader(response)
        if wait_ready and response.status_code == 200:
            reader.ready = await reader.next_named("ready")
        yield reader


def async_client(url: str) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=1000, max_keepalive_connections=100)
    return httpx.AsyncClient(base_url=url, timeout=httpx.Timeout(10.0, read=30.0), limits=limits)


async def post_notification(
    http: httpx.AsyncClient, account: Account, **body: Any
) -> dict[str, Any]:
    """POST a notification (title "hello" unless given) and return it; it must be a 201."""
    body.setdefault("title", "hello")
    response = await http.post("/api/notifications/", json=body, headers=account.headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created
