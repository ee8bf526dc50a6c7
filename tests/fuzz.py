"""schemathesis against a live server and its own /api/openapi.json.

Two passes, because the API takes two kinds of credentials: a full-scope bearer token for every
operation but the token routes, and a browser session (same-origin) for the token routes. The
SSE stream is left out: it never ends, which a request-response fuzzer cannot judge.

`make fuzz` runs this with more examples; the suite runs a bounded pass (tests/test_contract.py).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from tests.serverproc import Account, ServerProcess, session_cookie_for

CHECKS = (
    "not_a_server_error,response_schema_conformance,status_code_conformance,"
    "content_type_conformance"
)
SCHEMATHESIS = Path(sys.executable).with_name("st")
# Limits that would only slow the fuzzer down; each has its own test.
FUZZ_SETTINGS = {"TOKEN_RATE_LIMIT": "0", "ACCESS_LOG": "false"}


def run(
    server: ServerProcess, account: Account, examples: int, seconds: int, verbose: bool = False
) -> list[str]:
    """Both passes; returns each pass's output where it failed (empty: no failures)."""
    cookie = session_cookie_for(server, account.user_id)
    passes = [
        [
            "-H",
            f"Authorization: Bearer {account.token}",
            "--exclude-tag",
            "tokens",
            "--exclude-path",
            "/api/notifications/stream",
        ],
        [
            "-H",
            f"Cookie: pn_session={cookie}",
            "-H",
            "Sec-Fetch-Site: same-origin",
            "--include-tag",
            "tokens",
        ],
    ]
    failures = []
    for credentials in passes:
        result = subprocess.run(
            [
                str(SCHEMATHESIS),
                "run",
                server.url + "/api/openapi.json",
                *credentials,
                "--checks",
                CHECKS,
                "--max-examples",
                str(examples),
                "--max-time",
                str(seconds),
                "--request-timeout",
                "10",
                "--generation-database",
                "none",
                "--no-color",
            ],
            capture_output=True,
            text=True,
            timeout=seconds + 120,
            check=False,
            cwd=tempfile.gettempdir(),  # its caches and reports stay out of the repository
        )
        if verbose:
            print(result.stdout[-20_000:])
        if result.returncode != 0:
            failures.append(result.stdout[-6000:] + result.stderr[-2000:])
    return failures


def main() -> int:
    examples = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    with tempfile.TemporaryDirectory() as scratch:
        server = ServerProcess.start(Path(scratch) / "data", FUZZ_SETTINGS)
        try:
            failures = run(server, server.account("fuzz"), examples, seconds=300, verbose=True)
        finally:
            server.stop()
    for failure in failures:
        print(failure)
    print("schemathesis:", "failures found" if failures else "no failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
