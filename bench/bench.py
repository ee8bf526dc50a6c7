"""`make bench`: HTTP throughput, latency and CPU per request, side by side in one run.

priority-notify, the seed stack and the yardsticks (bench/targets.py) take the same wrk loads on
loopback, interleaved round by round (the order flips each round), so a slow patch of this noisy
machine hits them all. The table shows medians with the range over the rounds; compare within
one run only.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent))

from targets import Hello, Ours, RawApi, SeedStack, Target, cpu_seconds
from wrk import WrkResult, run_wrk, write_integration_scripts, write_scripts

Results = dict[str, dict[str, list[WrkResult]]]


@dataclass(frozen=True)
class Load:
    label: str
    run: Callable[[Target], WrkResult]
    who: Callable[[Target], bool] = lambda target: True


def loads(workdir: Path, seconds: int) -> list[Load]:
    post, get = write_scripts(workdir)
    ntfy, alert = write_integration_scripts(workdir)
    ours: Callable[[Target], bool] = lambda t: isinstance(t, Ours)  # noqa: E731
    listing: Callable[[Target], bool] = lambda t: t.lists  # noqa: E731

    def listed(query: Callable[[Target], str]) -> Callable[[Target], WrkResult]:
        def run(t: Target) -> WrkResult:
            return run_wrk(t.url + "/api/notifications/" + query(t), get, t.list_token, 1, 5, 1)

        return run

    return [
        Load(
            "POST, 32 conns",
            lambda t: run_wrk(t.url + "/api/notifications/", post, t.post_token, 32, seconds),
        ),
        Load("list newest 50 of 100k", listed(lambda t: ""), listing),
        Load("list status=unread", listed(lambda t: "?status=unread"), listing),
        Load("list since (1,000 match)", listed(lambda t: "?since=" + quote(t.since)), listing),
        Load("search q=zebra (100 of 100k)", listed(lambda t: "?q=zebra"), ours),
        Load(
            "ntfy POST /{topic} text, 32 conns",
            lambda t: run_wrk(t.url + "/bench", ntfy, t.post_token, 32, seconds),
            ours,
        ),
        Load(
            "Alertmanager webhook, 32 conns",
            lambda t: run_wrk(
                t.url + "/api/integrations/alertmanager", alert, t.post_token, 32, seconds
            ),
            ours,
        ),
    ]


def measured(target: Target, load: Load) -> WrkResult:
    before = cpu_seconds(target.pid)
    result = load.run(target)
    used = cpu_seconds(target.pid) - before
    result.cpu_us_per_request = used * 1e6 / max(1, result.requests)
    return result


def measure(targets: list[Target], plan: list[Load], rounds: int, workdir: Path) -> Results:
    results: Results = {t.name: {} for t in targets}
    post, _ = write_scripts(workdir)
    for target in targets:  # warm-up: bcrypt once per token, caches, first connections
        run_wrk(target.url + "/api/notifications/", post, target.post_token, 2, 1)
    for round_number in range(rounds):
        for load in plan:
            order = targets if round_number % 2 == 0 else targets[::-1]
            for target in (t for t in order if load.who(t)):
                result = measured(target, load)
                results[target.name].setdefault(load.label, []).append(result)
                print(
                    f"  round {round_number + 1} {target.name:15} {load.label:34} "
                    f"{result.requests_per_second:8.0f}/s p50 {result.p50_ms:6.2f} "
                    f"p99 {result.p99_ms:7.2f} ms  {result.cpu_us_per_request:5.0f} µs CPU/req"
                    f"  errors {result.errors}",
                    file=sys.stderr,
                    flush=True,
                )
    return results


def _spread(values: list[float], digits: int = 0) -> str:
    middle = statistics.median(values)
    if len(values) == 1:
        return f"{middle:,.{digits}f}"
    return f"{middle:,.{digits}f} ({min(values):,.{digits}f} to {max(values):,.{digits}f})"


def report(results: Results) -> str:
    names = list(results)
    labels = list(dict.fromkeys(label for by_load in results.values() for label in by_load))
    lines = [
        "| load | " + " | ".join(names) + " |",
        "|---" * (len(names) + 1) + "|",
    ]
    for label in labels:
        cells = []
        for name in names:
            runs = results[name].get(label)
            if not runs:
                cells.append("—")
                continue
            errors = sum(r.errors for r in runs)
            cells.append(
                f"{_spread([r.requests_per_second for r in runs])}/s<br>"
                f"p99 {_spread([r.p99_ms for r in runs], 1)} ms<br>"
                f"{_spread([r.cpu_us_per_request for r in runs])} µs CPU/req"
                + (f"<br>**{errors} errors**" if errors else "")
            )
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    ours = results[names[0]].get("POST, 32 conns")
    hello = results.get(Hello.name, {}).get("POST, 32 conns")
    if ours and hello:
        shares = [
            o.requests_per_second / h.requests_per_second for o, h in zip(ours, hello, strict=True)
        ]
        lines.append(
            "\nPOST rate as a share of hello-world's, round by round: "
            + ", ".join(f"{share:.0%}" for share in shares)
            + f"; p99 of every POST round: {', '.join(f'{r.p99_ms:.1f}' for r in ours)} ms"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--only", default="", help="run only the loads whose name has this")
    parser.add_argument("--alone", action="store_true", help="priority-notify only")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("bench: wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="pnotify-bench-") as temp:
        workdir = Path(temp)
        print("setting up (100k rows per list user)…", file=sys.stderr)
        kinds = [Ours] if args.alone else [Ours, SeedStack, RawApi, Hello]
        targets: list[Target] = []
        try:
            for kind in kinds:
                targets.append(kind(workdir))  # noqa: PERF401 (stop the ones started, if one fails)
            plan = [load for load in loads(workdir, args.seconds) if args.only in load.label]
            results = measure(targets, plan, args.rounds, workdir)
        finally:
            for target in targets:
                target.stop()
    print(
        f"\nMedians (and ranges) of {args.rounds} interleaved rounds on one machine; POST "
        f"{args.seconds} s at 32 connections (synchronous=FULL for priority-notify, NORMAL for "
        "the raw app); lists at 1 connection for 5 s. CPU is the server process's own.\n"
    )
    print(report(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
