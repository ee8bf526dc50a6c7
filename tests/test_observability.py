"""Health, metrics and logs: /healthz, /metrics as Prometheus text, request lines, redaction."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.serverproc import ServerProcess, wait_for

METRICS_TOKEN = "metrics-token-0123456789"
BASE = "/api/notifications/"
_SAMPLE = re.compile(
    r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*",?)*\})? (\S+)$'
)


def parse_prometheus(text: str) -> dict[str, float]:
    """A strict little parser for the text format: every sample well formed and typed."""
    assert text.endswith("\n")
    typed: dict[str, str] = {}
    samples: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            assert kind in ("counter", "gauge", "histogram"), line
            typed[name] = kind
        elif line.startswith("# HELP ") or not line:
            continue
        else:
            match = _SAMPLE.match(line)
            assert match, f"malformed sample: {line!r}"
            name = match.group(1)
            family = re.sub(r"_(bucket|sum|count)$", "", name) if name not in typed else name
            assert family in typed, f"untyped sample: {line!r}"
            samples[name + (match.group(2) or "")] = float(match.group(3))
    return samples


@pytest.fixture(scope="module")
def server_settings() -> dict[str, str]:
    return {"METRICS_TOKEN": METRICS_TOKEN}


def test_healthz(client: httpx.Client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_metrics_need_the_token_and_count(server: ServerProcess, client: httpx.Client) -> None:
    assert client.get("/metrics").status_code == 401
    assert (
        client.get(
            "/metrics", headers={"Authorization": "Bearer wrong-token-000000000"}
        ).status_code
        == 401
    )
    auth = {"Authorization": f"Bearer {METRICS_TOKEN}"}
    before = parse_prometheus(client.get("/metrics", headers=auth).text)
    account = server.account("metrics")
    for _ in range(3):
        assert client.post(BASE, json={"title": "m"}, headers=account.headers).status_code == 201
    # A search waits until the index holds what it can see: then nothing is left behind.
    searched = client.get(BASE, params={"q": "m"}, headers=account.headers)
    assert searched.json()["total"] == 3
    client.get("/api/me", headers={"Authorization": "Bearer pn_AAAAAAAAAAAA_" + "x" * 43})
    response = client.get("/metrics", headers=auth)
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    after = parse_prometheus(response.text)
    created = 'pnotify_notification_changes_total{kind="created"}'
    assert after[created] == before.get(created, 0) + 3
    posts = 'pnotify_http_requests_total{route="/api/notifications/",method="POST",status="201"}'
    assert after[posts] == before.get(posts, 0) + 3
    assert (
        after["pnotify_token_auth_failures_total"]
        >= before["pnotify_token_auth_failures_total"] + 1
    )
    assert after['pnotify_http_request_duration_seconds_count{route="/api/notifications/"}'] >= 3
    assert after["pnotify_db_commit_seconds_count"] >= 3
    assert "pnotify_sse_streams" in after and "pnotify_write_queue_depth" in after
    assert after["pnotify_search_index_behind"] == 0


def test_metrics_are_off_without_a_token(tmp_path: Path) -> None:
    running = ServerProcess.start(tmp_path / "data")
    try:
        assert httpx.get(running.url + "/metrics").status_code == 404
    finally:
        running.stop()


def test_request_log_lines_and_ids(server: ServerProcess, client: httpx.Client) -> None:
    account = server.account("logged")
    response = client.get(
        BASE + "01a2150d-5823-7e35-80d1-2bf01ce8d93e",
        headers={**account.headers, "x-request-id": "proxy-42"},
    )
    assert response.headers["x-request-id"] == "proxy-42"
    odd = client.get("/api/me", headers={**account.headers, "x-request-id": "no spaces\tor tabs"})
    assert re.fullmatch(r"[0-9a-f]{16}", odd.headers["x-request-id"])

    def logged() -> dict[str, Any] | None:
        return next((e for e in server.log_entries() if e.get("request_id") == "proxy-42"), None)

    entry = wait_for(logged)
    assert entry["event"] == "request" and entry["method"] == "GET"
    assert entry["path"] == "/api/notifications/{id}"  # the template, never the id or query
    assert entry["status"] == 404 and entry["user_id"] == account.user_id
    assert isinstance(entry["ms"], float)


def test_secrets_never_reach_the_log(server: ServerProcess, client: httpx.Client) -> None:
    account = server.account("secretive")
    client.get("/api/me", headers=account.headers)
    client.post(BASE, json={"title": "x"}, headers=account.headers)
    wrong = "pn_" + account.token[3:15] + "_" + "s" * 43
    client.get("/api/me", headers={"Authorization": f"Bearer {wrong}"})
    with httpx.Client(base_url=server.url) as browser:
        assert browser.get(server.sign_in_link().split(server.url, 1)[1]).status_code == 303
        cookie = browser.cookies["pn_session"]
        browser.get("/api/me")
        browser.get(
            "/auth/callback", params={"code": "oidc-code-that-must-not-be-logged", "state": "s"}
        )
    marker = account.token[3:]
    wait_for(lambda: any("/auth/callback" in line for line in server.lines) or None)
    text = "\n".join(server.lines)
    for secret in (
        account.token,
        marker,
        account.token.split("_", 2)[2],  # the whole secret (it may contain "_" itself)
        wrong,
        cookie,
        cookie.split(".")[0],
        "oidc-code-that-must-not-be-logged",
        "Bearer",
    ):
        assert secret not in text, secret


def test_access_log_off_means_no_request_or_stream_lines(tmp_path: Path) -> None:
    running = ServerProcess.start(tmp_path / "data", {"ACCESS_LOG": "false"})
    try:
        account = running.account("quiet")
        with httpx.Client(base_url=running.url, headers=account.headers) as client:
            assert client.get("/api/me").status_code == 200
            with client.stream("GET", BASE + "stream") as stream:
                first = next(stream.iter_bytes())  # the retry and ready events: it is open
            assert b"event: ready" in first
    finally:
        assert running.stop() == 0  # lines still waiting would be written now
    events = [entry.get("event") for entry in running.log_entries()]
    assert "stopped" in events
    assert not {"request", "stream opened", "stream closed"} & set(events)
