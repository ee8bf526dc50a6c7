"""Reads at scale: one user with a million notifications (one a second for 11.5 days, as a busy
monitoring setup makes them). Start-up time and memory, the newest page, a `since` that matches
100,000 rows (with its exact `total`), the unread view and a selective search, with wrk at one
connection. Part of `make bench`.

The rows go in through SQL in one transaction (the triggers keep counters and the search index
as they do for every write), and the database is kept in the system's temp directory between
runs, keyed by the migrations it was built with, since building it takes minutes here.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from targets import rss_kib
from wrk import run_wrk, write_scripts

from pnotify import db, migrate
from pnotify.clock import SECOND_US, now_us, to_iso
from pnotify.storage import search_index, users
from tests.serverproc import ServerProcess, create_account

ROWS = 1_000_000
SINCE_MATCHES = 100_000
WORDS = [
    "disk",
    "cpu",
    "memory",
    "backup",
    "deploy",
    "build",
    "latency",
    "certificate",
    "job",
    "queue",
    "replica",
]


def _database_key() -> str:
    migrations = "".join(m.checksum for m in migrate.load_migrations())
    return hashlib.sha256(f"{migrations}{ROWS}".encode()).hexdigest()[:12]


def build(path: Path) -> None:
    """One user, ROWS notifications one second apart ending now; every 10,000th is 'zebrafish'."""
    started = time.monotonic()
    conn = db.open_and_migrate(path, "OFF")
    user = users.upsert(conn, "local", "scale", "", "scale", login=False)
    rng = random.Random(7)
    end = now_us() - 5 * SECOND_US
    with conn:
        conn.executemany(
            "INSERT INTO notifications (id, user_id, title, message, priority, status, source, "
            "created_at, cursor, created_cursor, content_cursor) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                (
                    str(uuid.uuid4()),
                    user.id,
                    f"{rng.choice(WORDS)} alert on host{index % 300}"
                    + (" zebrafish" if index % 10_000 == 0 else ""),
                    f"{rng.choice(WORDS)} {rng.choice(WORDS)} above threshold for 5 minutes",
                    rng.choice(("low", "medium", "high", "critical")),
                    "unread" if index % 7 == 0 else "read",
                    f"source-{index % 20}",
                    end - (ROWS - index) * SECOND_US,
                    index + 1,
                    index + 1,
                    index + 1,
                )
                for index in range(ROWS)
            ),
        )
        conn.execute("UPDATE server_state SET value = ? WHERE key = 'change_cursor'", (ROWS,))
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    search_index.bring_up_to_date(path)
    print(f"built {ROWS:,} rows in {time.monotonic() - started:.0f} s", file=sys.stderr)


def _cached_database() -> Path:
    cached = Path(tempfile.gettempdir()) / f"pnotify-scale-{_database_key()}.db"
    if not cached.exists():
        partial = cached.with_suffix(".partial")
        partial.unlink(missing_ok=True)
        build(partial)
        search_index.index_path(partial).rename(search_index.index_path(cached))
        partial.rename(cached)
    return cached


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    source = _cached_database()
    with tempfile.TemporaryDirectory(prefix="pnotify-scale-") as temp:
        data = Path(temp) / "data"
        data.mkdir()
        shutil.copyfile(source, data / "priority_notify.db")
        index = search_index.index_path(data / "priority_notify.db")
        shutil.copyfile(search_index.index_path(source), index)
        # The copy's ~800 MB of dirty pages would otherwise be written back during the loads.
        os.sync()
        conn = db.connect(data / "priority_notify.db")
        user = users.upsert(conn, "local", "scale", "", "scale", login=False)
        token = create_account(conn, "scale-reader", user_id=user.id).token
        # From the newest row, not from now: the database is kept between runs, and a `since`
        # of now minus 100,000 s matched fewer rows each day (36,635 two days after the build).
        (newest_row,) = conn.execute("SELECT max(created_at) FROM notifications").fetchall()
        newest = int(newest_row[0])  # type: ignore[arg-type]  # an INTEGER column
        conn.close()
        started = time.monotonic()
        server = ServerProcess.start(data, {"ACCESS_LOG": "false", "TOKEN_RATE_LIMIT": "0"})
        start_up = time.monotonic() - started
        try:
            assert server.process is not None
            pid = server.process.pid
            rss_started = rss_kib(pid)
            since = to_iso(newest - SINCE_MATCHES * SECOND_US)
            check = httpx.get(
                server.url + "/api/notifications/",
                params={"since": since, "limit": 1},
                headers={"Authorization": f"Bearer {token}"},
            ).json()
            _, get = write_scripts(Path(temp))
            loads = {
                "newest 50": "",
                f"since, {check['total']:,} match": "?since=" + since.replace("+", "%2B"),
                "status=unread": "?status=unread",
                "search q=zebrafish (100 match)": "?q=zebrafish",
            }
            print(f"| load at {ROWS:,} rows | req/s | p50 ms | p99 ms (each round) |")
            print("|---|---|---|---|")
            for label, query in loads.items():
                runs = [
                    run_wrk(server.url + "/api/notifications/" + query, get, token, 1, 5, 1)
                    for _ in range(args.rounds)
                ]
                middle = len(runs) // 2
                rate = sorted(r.requests_per_second for r in runs)[middle]
                print(
                    f"| {label} | {rate:,.0f} | {sorted(r.p50_ms for r in runs)[middle]:.2f} | "
                    + ", ".join(f"{r.p99_ms:.2f}" for r in runs)
                    + " |",
                    flush=True,
                )
            print(
                f"\nStart-up with {ROWS:,} rows (process start to answering): {start_up:.2f} s; "
                f"RSS {rss_started / 1024:.0f} MiB at start, {rss_kib(pid) / 1024:.0f} MiB after "
                f"the loads; database {source.stat().st_size / 2**20:.0f} MiB, its search index "
                f"{search_index.index_path(source).stat().st_size / 2**20:.0f} MiB."
            )
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
