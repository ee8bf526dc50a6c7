"""The app is plain ASGI: under uvicorn's own HTTP protocol, without what ours adds for streams
(sse.StreamConnection), a stream still delivers and still learns that its client left — its
task drains the subscription's queue and another listens for `http.disconnect`."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.oidc_provider import free_port
from tests.serverproc import ServerProcess, eventually, server_env
from tests.sseclient import async_client, open_stream, post_notification

pytestmark = pytest.mark.anyio


@dataclass
class PlainUvicorn(ServerProcess):
    port: int = 0

    def command(self) -> list[str]:
        return [
            *(sys.executable, "-m", "uvicorn", "--factory", "pnotify.devserver:app"),
            *("--host", "127.0.0.1", "--port", str(self.port), "--no-access-log"),
        ]


def _answers(url: str) -> bool:
    try:
        return httpx.get(url + "/healthz").status_code == 200
    except httpx.TransportError:
        return False  # uvicorn binds only after the app's start-up, which is logged first


async def test_a_stream_under_plain_uvicorn(tmp_path: Path) -> None:
    port = free_port()
    data_dir = tmp_path / "data"
    server = PlainUvicorn(data_dir, server_env(data_dir, {"PORT": str(port)}), port=port)
    server.launch()
    try:
        await eventually(lambda: _answers(server.url))
        account = server.account("plain")
        async with async_client(server.url) as http:
            async with open_stream(http, account.headers) as stream:
                created = await post_notification(http, account, title="over plain ASGI")
                assert (await stream.next_named("notification")).json == created
            await eventually(lambda: server.closed_streams("disconnected") == 1)
    finally:
        server.stop()
