"""SSE fan-out: POST-to-receipt latency at N subscribers of one user, idle-stream memory, and
how fast the server exits with streams open. Part of `make bench`.

The subscribers are raw asyncio sockets in this process (uvloop), so the harness's own CPU is in
the figures too, as it was in the baseline measurements on these machines.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import uvloop

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.serverproc import ServerProcess, create_account  # noqa: E402

MARKER = re.compile(rb"bench-(\d+)-(\d+)")
POSTS = 20


@dataclass
class Subscriber:
    host: str
    port: int
    token: str
    received: dict[int, int] = field(default_factory=dict)  # post number -> latency ns
    writer: asyncio.StreamWriter | None = None

    async def connect(self) -> None:
        reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.writer.write(
            f"GET /api/notifications/stream HTTP/1.1\r\nHost: {self.host}\r\n"
            f"Authorization: Bearer {self.token}\r\nAccept: text/event-stream\r\n\r\n".encode()
        )
        # Both servers register the subscriber before they send the response headers.
        await reader.readuntil(b"\r\n\r\n")
        self._task = asyncio.get_running_loop().create_task(self._read(reader))

    async def _read(self, reader: asyncio.StreamReader) -> None:
        buffer = b""
        while True:
            chunk = await reader.read(65536)
            if not chunk:
                return
            now = time.time_ns()
            buffer += chunk
            end = buffer.rfind(b"\n\n")
            if end < 0:
                continue
            complete, buffer = buffer[: end + 2], buffer[end + 2 :]
            for number, sent in MARKER.findall(complete):
                self.received.setdefault(int(number), now - int(sent))

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


async def _open(subscribers: list[Subscriber], concurrency: int = 200) -> None:
    gate = asyncio.Semaphore(concurrency)

    async def one(subscriber: Subscriber) -> None:
        async with gate:
            await subscriber.connect()

    await asyncio.gather(*(one(s) for s in subscribers))


async def fan_out(url: str, token: str, count: int) -> dict[str, float]:
    host, port = url.removeprefix("http://").split(":")
    subscribers = [Subscriber(host, int(port), token) for _ in range(count)]
    started = time.perf_counter()
    await _open(subscribers)
    open_seconds = time.perf_counter() - started
    latencies: list[float] = []
    async with httpx.AsyncClient(
        base_url=url, headers={"Authorization": f"Bearer {token}"}
    ) as http:
        for number in range(POSTS):
            title = f"bench-{number}-{time.time_ns()}"
            response = await http.post(
                "/api/notifications/", json={"title": title, "priority": "high"}
            )
            assert response.status_code == 201, response.text
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and any(
                number not in s.received for s in subscribers
            ):
                await asyncio.sleep(0.005)
            await asyncio.sleep(0.05)
    for subscriber in subscribers:
        latencies.extend(ns / 1e6 for ns in subscriber.received.values())
        subscriber.close()
    latencies.sort()
    lost = count * POSTS - len(latencies)
    return {
        "open_s": open_seconds,
        "p50": statistics.median(latencies) if latencies else float("nan"),
        "p99": latencies[int(len(latencies) * 0.99) - 1] if latencies else float("nan"),
        "max": latencies[-1] if latencies else float("nan"),
        "lost": lost,
    }


async def idle_memory(server: ServerProcess, token: str, count: int) -> dict[str, float]:
    assert server.process is not None
    pid = server.process.pid
    host, port = server.url.removeprefix("http://").split(":")
    before = _rss_kib(pid)
    subscribers = [Subscriber(host, int(port), token) for _ in range(count)]
    await _open(subscribers)
    await asyncio.sleep(1)
    during = _rss_kib(pid)
    started = time.perf_counter()
    server.process.send_signal(signal.SIGTERM)
    code = await asyncio.to_thread(server.process.wait, 30)
    exit_seconds = time.perf_counter() - started
    for subscriber in subscribers:
        subscriber.close()
    return {
        "rss_before_mib": before / 1024,
        "rss_with_mib": during / 1024,
        "kib_per_stream": (during - before) / count,
        "exit_s": exit_seconds,
        "exit_code": code,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subscribers", type=int, nargs="+", default=[1, 100, 1000])
    parser.add_argument("--idle", type=int, default=10_000)
    args = parser.parse_args()
    import resource

    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536), hard))

    with tempfile.TemporaryDirectory(prefix="pnotify-sse-bench-") as temp:
        # One token holds every stream and sends every POST here: its per-token caps are off.
        limits_off = {"SSE_STREAMS_PER_TOKEN": "0", "TOKEN_RATE_LIMIT": "0"}
        server = ServerProcess.start(Path(temp) / "data", {"LOG_LEVEL": "INFO", **limits_off})
        try:
            conn = server.connect()
            try:
                token = create_account(conn, "sse-bench").token
            finally:
                conn.close()
            print("| subscribers | open all (s) | p50 ms | p99 ms | max ms | lost |")
            print("|---|---|---|---|---|---|")
            for count in args.subscribers:
                result = uvloop.run(fan_out(server.url, token, count))
                print(
                    f"| {count:,} | {result['open_s']:.2f} | {result['p50']:.1f} | "
                    f"{result['p99']:.1f} | {result['max']:.1f} | {int(result['lost'])} |",
                    flush=True,
                )
            memory = uvloop.run(idle_memory(server, token, args.idle))
        finally:
            server.stop()
    print(
        f"\n{args.idle:,} idle streams: RSS {memory['rss_before_mib']:.1f} → "
        f"{memory['rss_with_mib']:.1f} MiB ({memory['kib_per_stream']:.1f} KiB per stream); "
        f"SIGTERM with them open: exit {int(memory['exit_code'])} after {memory['exit_s']:.2f} s"
    )
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
