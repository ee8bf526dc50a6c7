"""SSE fan-out, side by side: POST-to-receipt latency at N subscribers of one user, the time to
open them, the server's CPU per delivered event, and memory per idle stream — for
priority-notify, the raw ASGI+APSW yardstick and the seed stack, interleaved over rounds.
Then priority-notify alone holds 10,000 idle streams and is stopped with them open.

The subscribers are raw asyncio sockets in this process (uvloop). For the fan-out table this
process keeps one core to itself and the servers get the others, every server alike, as when
the subscribers are phones elsewhere: left to itself, the kernel woke the harness on the server's
core in the middle of a fan-out (measured: pauses of 1 to 4 ms inside the server's loop while the
other core sat idle), which measured the scheduler more than the servers.
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
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parent))

from targets import Ours, OursNormal, RawApi, SeedStack, Target, cpu_seconds, rss_kib
from wrk import run_wrk, write_scripts

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
            # Events end with a blank line: "\n\n", or "\r\n\r\n" from sse-starlette.
            lf, crlf = buffer.rfind(b"\n\n"), buffer.rfind(b"\r\n\r\n")
            end = max(lf + 2 if lf >= 0 else -1, crlf + 4 if crlf >= 0 else -1)
            if end < 0:
                continue
            complete, buffer = buffer[:end], buffer[end:]
            for number, sent in MARKER.findall(complete):
                self.received.setdefault(int(number), now - int(sent))

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def _open(subscribers: list[Subscriber], concurrency: int = 200) -> None:
    gate = asyncio.Semaphore(concurrency)

    async def one(subscriber: Subscriber) -> None:
        async with gate:
            await subscriber.connect()

    await asyncio.gather(*(one(s) for s in subscribers))


def _subscribers(target: Target, count: int) -> list[Subscriber]:
    host, port = target.url.removeprefix("http://").split(":")
    return [Subscriber(host, int(port), target.post_token) for _ in range(count)]


async def fan_out(target: Target, count: int) -> dict[str, float]:
    subscribers = _subscribers(target, count)
    started = time.perf_counter()
    await _open(subscribers)
    open_seconds = time.perf_counter() - started
    cpu_before = cpu_seconds(target.pid)
    async with httpx.AsyncClient(
        base_url=target.url, headers={"Authorization": f"Bearer {target.post_token}"}
    ) as http:
        # The first request this process makes costs it ~45 ms of lazy set-up (measured): made
        # here, unmeasured, rather than charged to whichever server a round starts with.
        await http.get("/")
        for number in range(POSTS):
            title = f"bench-{number}-{time.time_ns()}"
            body = {"title": title, "message": "fan-out", "priority": "high"}
            response = await http.post("/api/notifications/", json=body)
            assert response.status_code == 201, response.text
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and any(
                number not in s.received for s in subscribers
            ):
                await asyncio.sleep(0.005)
            await asyncio.sleep(0.05)
    cpu_used = cpu_seconds(target.pid) - cpu_before
    latencies = sorted(ns / 1e6 for s in subscribers for ns in s.received.values())
    for subscriber in subscribers:
        subscriber.close()
    return {
        "open_s": open_seconds,
        "p50": statistics.median(latencies) if latencies else float("nan"),
        "p99": latencies[int(len(latencies) * 0.99) - 1] if latencies else float("nan"),
        "lost": count * POSTS - len(latencies),
        "cpu_us_per_event": cpu_used * 1e6 / max(1, len(latencies)),
    }


async def mixed(target: Ours, count: int, seconds: int, workdir: Path) -> dict[str, float]:
    """POST at 32 connections (one user) and a client listing (another), while `count` streams
    of the listing user take the probe notifications whose delivery is timed."""
    post, get = write_scripts(workdir)
    host, port = target.url.removeprefix("http://").split(":")
    subscribers = [Subscriber(host, int(port), target.list_token) for _ in range(count)]
    await _open(subscribers)
    posting = asyncio.create_task(
        asyncio.to_thread(
            run_wrk, target.url + "/api/notifications/", post, target.post_token, 32, seconds
        )
    )
    listing = asyncio.create_task(
        asyncio.to_thread(
            run_wrk, target.url + "/api/notifications/", get, target.list_token, 1, seconds, 1
        )
    )
    probes = 0
    async with httpx.AsyncClient(
        base_url=target.url, headers={"Authorization": f"Bearer {target.list_token}"}
    ) as http:
        # As in fan_out: the first request costs this process ~50 ms of lazy set-up (measured:
        # a fresh server's first round had its first probe at 89 ms median, the others at 23 to
        # 40; with this request, 33), made here, unmeasured, not charged to the first probe.
        await http.get("/")
        await asyncio.sleep(1)  # the loads are running
        while not posting.done() and probes < POSTS:
            body = {"title": f"bench-{probes}-{time.time_ns()}", "message": "probe"}
            response = await http.post("/api/notifications/", json=body)
            assert response.status_code == 201, response.text
            probes += 1
            await asyncio.sleep(0.25)
    posted, listed = await posting, await listing
    latencies = sorted(ns / 1e6 for s in subscribers for ns in s.received.values())
    for subscriber in subscribers:
        subscriber.close()
    return {
        "post_rps": posted.requests_per_second,
        "post_p99": posted.p99_ms,
        "list_p99": listed.p99_ms,
        "delivery_p50": statistics.median(latencies) if latencies else float("nan"),
        "delivery_p99": latencies[int(len(latencies) * 0.99) - 1] if latencies else float("nan"),
        "lost": count * probes - len(latencies),
    }


def mixed_table(workdir: Path, count: int, rounds: int) -> None:
    target = Ours(workdir / "mixed")
    try:
        runs = [uvloop.run(mixed(target, count, 10, workdir)) for _ in range(rounds)]
    finally:
        target.stop()
    cells = [
        _spread([r["post_rps"] for r in runs], 0),
        *(_spread([r[key] for r in runs]) for key in ("post_p99", "list_p99")),
        *(_spread([r[key] for r in runs]) for key in ("delivery_p50", "delivery_p99")),
        str(int(sum(r["lost"] for r in runs))),
    ]
    print(
        f"\nMixed, priority-notify: POST at 32 connections and a client listing, while {count:,} "
        "streams of the listing user are open (probe notifications timed):\n\n"
        "| POST req/s | POST p99 ms | list p99 ms | delivery p50 ms | delivery p99 ms | lost |\n"
        "|---|---|---|---|---|---|\n| " + " | ".join(cells) + " |",
        flush=True,
    )


async def idle_memory(target: Target, count: int) -> float:
    """KiB of server memory per idle stream, opened on a fresh server."""
    before = rss_kib(target.pid)
    subscribers = _subscribers(target, count)
    await _open(subscribers)
    await asyncio.sleep(1)
    during = rss_kib(target.pid)
    for subscriber in subscribers:
        subscriber.close()
    return (during - before) / count


async def held_then_stopped(target: Ours, count: int) -> dict[str, float]:
    """Hold `count` idle streams, then SIGTERM the server with them open."""
    process = target.server.process
    assert process is not None
    before = rss_kib(target.pid)
    subscribers = _subscribers(target, count)
    await _open(subscribers)
    await asyncio.sleep(1)
    during = rss_kib(target.pid)
    started = time.perf_counter()
    process.send_signal(signal.SIGTERM)
    code = await asyncio.to_thread(process.wait, 30)
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


def _spread(values: list[float], digits: int = 1) -> str:
    middle = statistics.median(values)
    return f"{middle:,.{digits}f} ({min(values):,.{digits}f} to {max(values):,.{digits}f})"


KINDS: list[Callable[[Path], Target]] = [Ours, OursNormal, RawApi, SeedStack]


def _started(kind: Callable[[Path], Target], workdir: Path) -> Target:
    workdir.mkdir(parents=True)
    return kind(workdir)


def _separate_cores(server_pids: list[int]) -> Callable[[], None]:
    """This process on the last core, the servers (every thread) on the others; returns the
    undo for this process. Threads a server starts later inherit its cores."""
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        return lambda: None  # one core: nothing to separate
    for pid in server_pids:
        for thread in os.listdir(f"/proc/{pid}/task"):
            os.sched_setaffinity(int(thread), cores[:-1])
    os.sched_setaffinity(0, cores[-1:])
    return lambda: os.sched_setaffinity(0, cores)


def fan_out_table(workdir: Path, counts: list[int], rounds: int, alone: bool) -> None:
    targets: list[Target] = []
    restore_cores: Callable[[], None] | None = None
    try:
        for number, kind in enumerate(KINDS[:2] if alone else KINDS):
            targets.append(_started(kind, workdir / f"fan-out-{number}"))
        restore_cores = _separate_cores([target.pid for target in targets])
        results: dict[tuple[str, int], list[dict[str, float]]] = {}
        for round_number in range(rounds):
            order = targets if round_number % 2 == 0 else targets[::-1]
            for count in counts:
                for target in order:
                    result = uvloop.run(fan_out(target, count))
                    results.setdefault((target.name, count), []).append(result)
                    print(
                        f"  round {round_number + 1} {target.name:15} {count:5} subs: "
                        f"open {result['open_s']:.2f} s p50 {result['p50']:.1f} "
                        f"p99 {result['p99']:.1f} ms lost {int(result['lost'])} "
                        f"{result['cpu_us_per_event']:.0f} µs CPU/event",
                        file=sys.stderr,
                        flush=True,
                    )
    finally:
        if restore_cores is not None:
            restore_cores()
        for target in targets:
            target.stop()
    print("| subscribers | server | open all (s) | p50 ms | p99 ms | lost | CPU µs/event |")
    print("|---|---|---|---|---|---|---|")
    for count in counts:
        for target in targets:
            runs = results[(target.name, count)]
            print(
                f"| {count:,} | {target.name} | {_spread([r['open_s'] for r in runs], 2)} | "
                f"{_spread([r['p50'] for r in runs])} | {_spread([r['p99'] for r in runs])} | "
                f"{int(sum(r['lost'] for r in runs))} | "
                f"{_spread([r['cpu_us_per_event'] for r in runs], 0)} |",
                flush=True,
            )


def memory_table(workdir: Path, idle: int, held: int) -> None:
    print(f"\n| server | KiB per idle stream ({idle:,} on a fresh server) |\n|---|---|")
    for number, kind in enumerate(k for k in KINDS if k is not OursNormal):
        target = _started(kind, workdir / f"idle-{number}")
        try:
            print(f"| {target.name} | {uvloop.run(idle_memory(target, idle)):.1f} |", flush=True)
        finally:
            target.stop()
    ours = Ours(workdir / "held")  # a directory of its own: ServerProcess makes it
    try:
        memory = uvloop.run(held_then_stopped(ours, held))
    finally:
        ours.stop()
    print(
        f"\npriority-notify holding {held:,} idle streams: RSS {memory['rss_before_mib']:.1f} → "
        f"{memory['rss_with_mib']:.1f} MiB ({memory['kib_per_stream']:.1f} KiB per stream); "
        f"SIGTERM with them open: exit {int(memory['exit_code'])} after {memory['exit_s']:.2f} s"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subscribers", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--idle", type=int, default=2_000)
    parser.add_argument("--held", type=int, default=10_000)
    parser.add_argument("--alone", action="store_true", help="fan-out of priority-notify only")
    args = parser.parse_args()
    import resource

    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536), hard))
    with tempfile.TemporaryDirectory(prefix="pnotify-sse-bench-") as temp:
        fan_out_table(Path(temp), args.subscribers, args.rounds, args.alone)
        mixed_table(Path(temp), max(args.subscribers), args.rounds)
        if not args.alone:
            memory_table(Path(temp), args.idle, args.held)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
