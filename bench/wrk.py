"""wrk on loopback: the load generator of `make bench`, its Lua scripts, and its output read."""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

POST_BODY = (
    '{"title":"Disk full on web-01","message":"Disk usage on host db-1 is above 90% for 5 minutes",'
    '"priority":"high","source":"bench"}'
)


@dataclass
class WrkResult:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: int
    requests: int = 0
    cpu_us_per_request: float = float("nan")  # the server's CPU time over the run, per request


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
        requests=int(re.search(r"(\d+) requests in", output).group(1)),  # type: ignore[union-attr]
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


# Every script sends the token the harness puts in the environment.
_AUTH = 'wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")\n'


def _post_lua(body: str, headers: dict[str, str]) -> str:
    lines = [f"wrk.method = \"POST\"\nwrk.body = '{body}'\n"]
    lines += [f'wrk.headers["{name}"] = "{value}"\n' for name, value in headers.items()]
    return "".join(lines) + _AUTH


def write_integration_scripts(directory: Path) -> tuple[Path, Path]:
    ntfy = directory / "ntfy.lua"
    ntfy.write_text(_post_lua(NTFY_BODY, {"Title": "Disk full on web-01", "Priority": "high"}))
    alert = directory / "alert.lua"
    alert.write_text('wrk.headers["Content-Type"] = "application/json"\n' + _AUTH + ALERT_LUA)
    return ntfy, alert


def write_scripts(directory: Path) -> tuple[Path, Path]:
    post = directory / "post.lua"
    post.write_text(_post_lua(POST_BODY, {"Content-Type": "application/json"}))
    get = directory / "get.lua"
    get.write_text(_AUTH)
    return post, get
