"""`make bench`: POST throughput and list latency, optionally side by side with the seed stack.

Loads come from wrk (Debian package `wrk`) on loopback, sharing the machine's two cores with the
server, so compare figures from the same run only. With --seedstack the baseline from
../shared/peers/seedstack runs under identical loads, interleaved round by round, and the table
shows medians and ratios.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pnotify import db  # noqa: E402
from pnotify.storage import notification_writes as writes  # noqa: E402
from pnotify.storage import notifications as store  # noqa: E402
from tests.serverproc import ServerProcess, create_account  # noqa: E402

POST_BODY = (
    '{"title":"Disk full on web-01","message":"Disk usage on host db-1 is above 90% for 5 minutes",'
    '"priority":"high","source":"bench"}'
)
LIST_ROWS = 100_000


@dataclass
class WrkResult:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: int


def _milliseconds(value: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value)
    if not match:
        raise ValueError(value)
    number, unit = float(match.group(1)), match.group(2)
    return number * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]


def run_wrk(
    url: str, script: Path, token: str, connections: int, seconds: int, threads: int = 2
) -> WrkResult:
    output = subprocess.run(
        [
            "wrk",
            f"-t{min(threads, connections)}",
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            "-s",
            str(script),
            url,
        ],
        env={**os.environ, "TOKEN": token},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    percentiles = dict(re.findall(r"^\s+(50|99)%\s+(\S+)\s*$", output, re.MULTILINE))
    if "50" not in percentiles or "99" not in percentiles:
        raise RuntimeError("unexpected wrk output:\n" + output)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    total_errors = int(errors.group(1)) if errors else 0
    if socket_errors:
        total_errors += sum(int(n) for n in socket_errors.groups())
    return WrkResult(
        requests_per_second=float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),  # type: ignore[union-attr]
        p50_ms=_milliseconds(percentiles["50"]),
        p99_ms=_milliseconds(percentiles["99"]),
        errors=total_errors,
    )


NTFY_BODY = "Disk usage on host db-1 is above 90% for 5 minutes"
# Each request a new alert (a new fingerprint), so that each one creates a notification.
ALERT_LUA = """
counter = 0
request = function()
  counter = counter + 1
  local body = '{"version":"4","status":"firing","receiver":"pn","alerts":[{"status":"firing",'
    .. '"labels":{"alertname":"DiskFull","instance":"web-' .. counter .. '","severity":"high"},'
    .. '"annotations":{"summary":"Disk full","description":"/var is at 99%"},'
    .. '"startsAt":"2026-01-01T00:00:00Z","endsAt":"0001-01-01T00:00:00Z",'
    .. '"fingerprint":"' .. string.format("%016x", counter + id * 1000000000) .. '"}]}'
  return wrk.format("POST", nil, nil, body)
end
setup = function(thread) thread:set("id", math.random(1, 1000000)) end
"""


def write_integration_scripts(directory: Path) -> tuple[Path, Path]:
    ntfy = directory / "ntfy.lua"
    ntfy.write_text(
        textwrap.dedent(
            f"""
            wrk.method = "POST"
            wrk.body = '{NTFY_BODY}'
            wrk.headers["Title"] = "Disk full on web-01"
            wrk.headers["Priority"] = "high"
            wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
            """
        )
    )
    alert = directory / "alert.lua"
    alert.write_text(
        'wrk.headers["Content-Type"] = "application/json"\n'
        'wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")\n' + ALERT_LUA
    )
    return ntfy, alert


def write_scripts(directory: Path) -> tuple[Path, Path]:
    post = directory / "post.lua"
    post.write_text(
        textwrap.dedent(
            f"""
            wrk.method = "POST"
            wrk.body = '{POST_BODY}'
            wrk.headers["Content-Type"] = "application/json"
            wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
            """
        )
    )
    get = directory / "get.lua"
    get.write_text('wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")\n')
    return post, get


class Target:
    name: str
    url: str
    post_token: str
    list_token: str
    since: str

    def stop(self) -> None:
        raise NotImplementedError


class Ours(Target):
    name = "priority-notify"

    def __init__(self, workdir: Path) -> None:
        self.server = ServerProcess.start(
            workdir / "ours" / "data",
            # Request lines off, as the seed stack runs with --no-access-log; they cost ~7 %.
            # The per-token write limit off: one token is the whole load here.
            {
                "DB_SYNCHRONOUS": "FULL",
                "TOKEN_BCRYPT_ROUNDS": "12",
                "ACCESS_LOG": "false",
                "TOKEN_RATE_LIMIT": "0",
            },
        )
        self.url = self.server.url
        conn = self.server.connect()
        try:
            self.post_token = create_account(conn, "bench-post").token
            lister = create_account(conn, "bench-list")
            self.list_token = lister.token
            self.since = self._bulk_insert(conn, lister.user_id)
        finally:
            conn.close()

    @staticmethod
    def _bulk_insert(conn: db.apsw.Connection, user_id: str) -> str:
        """100k notifications straight through the storage layer; returns a `since` for 1,000."""
        new = store.NewNotification(
            title="seeded",
            message="Disk usage on host db-1 is above 90% for 5 minutes",
            priority="high",
            source="seed",
            metadata='{"host":"db-1"}',
        )
        # One row in a thousand has a rare word, for a selective search (100 matches).
        rare = dataclasses.replace(new, title="seeded zebrafish tank warm")
        created: list[store.Notification] = []
        with conn:
            (cursor,) = conn.execute(
                "SELECT value FROM server_state WHERE key = 'change_cursor'"
            ).fetchone()
            context = db.WriteContext(conn, int(cursor))
            for index in range(LIST_ROWS):
                notification = writes.create(context, user_id, rare if index % 1000 == 7 else new)
                if index == LIST_ROWS - 1001:
                    created.append(notification)
            conn.execute(
                "UPDATE server_state SET value = ? WHERE key = 'change_cursor'",
                (context.last_cursor,),
            )
        return store.Notification.to_json(created[0])["created_at"]

    def stop(self) -> None:
        self.server.stop()


class SeedStack(Target):
    name = "seed stack"

    def __init__(self, source: Path, workdir: Path) -> None:
        venv = Path(tempfile.gettempdir()) / "pnotify-bench-seedstack-venv"
        if not (venv / "bin" / "uvicorn").exists():
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
            subprocess.run(
                [
                    str(venv / "bin" / "pip"),
                    "install",
                    "-q",
                    "-r",
                    str(source / "requirements.lock.txt"),
                ],
                check=True,
            )
        env = {**os.environ, "SEEDSTACK_DB": str(workdir / "seedstack.db")}
        python = str(venv / "bin" / "python")

        def seed(*args: str) -> str:
            return subprocess.run(
                [python, "seed.py", *args],
                cwd=source,
                env=env,
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()

        self.post_token = seed("--user", "post")
        self.list_token = seed("--user", "list")
        seed("--bulk", str(LIST_ROWS), "--token", self.list_token)
        port = _free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.process = subprocess.Popen(
            [
                str(venv / "bin" / "uvicorn"),
                "app:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--loop",
                "uvloop",
                "--http",
                "httptools",
                "--no-access-log",
                "--log-level",
                "warning",
            ],
            cwd=source,
            env=env,
        )
        _wait_until_listening(port)
        # Its bulk rows end 1 s before seeding, 10 ms apart: 1,000 rows come after this one.
        with closing(sqlite3.connect(workdir / "seedstack.db")) as seeded:
            (newest,) = seeded.execute(
                "SELECT created_at FROM notification WHERE title = ?",
                (f"seeded #{LIST_ROWS - 1001}",),
            ).fetchone()
        self.since = newest.replace(" ", "T")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_listening(port: int) -> None:
    import socket
    import time

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError("seed stack did not start")


def measure(
    targets: list[Target],
    rounds: int,
    seconds: int,
    scripts: tuple[Path, Path],
    integration_scripts: tuple[Path, Path],
    only: str = "",
) -> dict[str, dict[str, list[WrkResult]]]:
    post_script, get_script = scripts
    ntfy_script, alert_script = integration_scripts
    results: dict[str, dict[str, list[WrkResult]]] = {t.name: {} for t in targets}
    loads: list[tuple[str, Callable[[Target], WrkResult]]] = [
        (
            "POST, 32 conns",
            lambda t: run_wrk(
                t.url + "/api/notifications/", post_script, t.post_token, 32, seconds
            ),
        ),
        (
            "list newest 50 of 100k",
            lambda t: run_wrk(t.url + "/api/notifications/", get_script, t.list_token, 1, 5, 1),
        ),
        (
            "list status=unread",
            lambda t: run_wrk(
                t.url + "/api/notifications/?status=unread", get_script, t.list_token, 1, 5, 1
            ),
        ),
        (
            "list since (1,000 match)",
            lambda t: run_wrk(
                t.url + "/api/notifications/?since=" + quote(t.since),
                get_script,
                t.list_token,
                1,
                5,
                1,
            ),
        ),
        (
            "search q=zebra (100 of 100k match)",
            lambda t: run_wrk(
                t.url + "/api/notifications/?q=zebra", get_script, t.list_token, 1, 5, 1
            ),
        ),
        (
            "ntfy POST /{topic} text, 32 conns",
            lambda t: run_wrk(t.url + "/bench", ntfy_script, t.post_token, 32, seconds),
        ),
        (
            "Alertmanager webhook, 32 conns",
            lambda t: run_wrk(
                t.url + "/api/integrations/alertmanager", alert_script, t.post_token, 32, seconds
            ),
        ),
    ]
    loads = [(label, load) for label, load in loads if only in label]
    only_ours = {
        "search q=zebra (100 of 100k match)",
        "ntfy POST /{topic} text, 32 conns",
        "Alertmanager webhook, 32 conns",
    }
    for target in targets:  # warm-up: bcrypt once per token, caches, first connections
        run_wrk(target.url + "/api/notifications/", post_script, target.post_token, 2, 1)
        run_wrk(target.url + "/api/notifications/", get_script, target.list_token, 1, 1, 1)
    for round_number in range(rounds):
        for label, load in loads:
            order = targets if round_number % 2 == 0 else targets[::-1]
            for target in order:
                if label in only_ours and not isinstance(target, Ours):
                    continue  # the seed stack has no such door
                result = load(target)
                results[target.name].setdefault(label, []).append(result)
                print(
                    f"  round {round_number + 1} {target.name:16} {label:26} "
                    f"{result.requests_per_second:9.0f} req/s  p50 {result.p50_ms:7.2f} ms  "
                    f"p99 {result.p99_ms:7.2f} ms  errors {result.errors}",
                    file=sys.stderr,
                )
    return results


def report(results: dict[str, dict[str, list[WrkResult]]]) -> str:
    names = list(results)
    labels = list(results[names[0]])
    lines = [
        "| load | "
        + " | ".join(f"{n} req/s · p50 · p99 (ms)" for n in names)
        + (" | ratio |" if len(names) > 1 else " |")
    ]
    lines.append("|---" * (len(names) + 1 + (1 if len(names) > 1 else 0)) + "|")
    for label in labels:
        cells = []
        medians = []
        for name in names:
            runs = results[name].get(label)
            if not runs:
                cells.append("—")
                medians.append((0.0, 0.0, 0.0))
                continue
            rps = statistics.median(r.requests_per_second for r in runs)
            p50 = statistics.median(r.p50_ms for r in runs)
            p99 = statistics.median(r.p99_ms for r in runs)
            errors = sum(r.errors for r in runs)
            medians.append((rps, p50, p99))
            cells.append(
                f"{rps:,.0f} · {p50:.2f} · {p99:.2f}" + (f" ({errors} errors)" if errors else "")
            )
        row = f"| {label} | " + " | ".join(cells)
        if len(names) > 1 and medians[1][0]:
            ours, theirs = medians[0], medians[1]
            row += f" | {ours[0] / theirs[0]:.1f}x req/s, p99 {theirs[2] / ours[2]:.1f}x lower"
        lines.append(row + (" |" if len(names) == 1 or medians[1][0] else " | — |"))
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seedstack", type=Path, help="path to the seed stack to compare with")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--only", default="", help="run only the loads whose name has this")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("bench: wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="pnotify-bench-") as temp:
        workdir = Path(temp)
        scripts = write_scripts(workdir)
        print("setting up (100k rows per list user)…", file=sys.stderr)
        targets: list[Target] = [Ours(workdir)]
        try:
            if args.seedstack:
                targets.append(SeedStack(args.seedstack.resolve(), workdir))
            results = measure(
                targets,
                args.rounds,
                args.seconds,
                scripts,
                write_integration_scripts(workdir),
                args.only,
            )
        finally:
            for target in targets:
                target.stop()
    print(
        f"\nMedians of {args.rounds} interleaved rounds; POST {args.seconds} s at 32 connections "
        "(synchronous=FULL for priority-notify); list at 1 connection for 5 s.\n"
    )
    print(report(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
