"""A real Prometheus Alertmanager (Debian's package) sends its webhook here, configured with the
README's snippet: fire → repeat → resolve → fire again → resolve. One notification per
incident; repeats change nothing; a resolution updates its incident's notification."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.readme import snippet
from tests.serverproc import Account, ServerProcess, wait_for

BINARY = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
WEBHOOK = "/api/integrations/alertmanager"

if BINARY is None:
    if os.environ.get("CI"):
        raise RuntimeError(".ci/run installs prometheus-alertmanager; it is missing")
    pytest.skip(
        "Alertmanager is not installed (apt-get install prometheus-alertmanager)",
        allow_module_level=True,
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def alertmanager(
    server: ServerProcess, account: Account, tmp_path: Path
) -> Iterator[tuple[str, Account]]:
    publisher = server.account("alertmanager", user_id=account.user_id, scope="publish")
    token_file = tmp_path / "pnotify-token"
    token_file.write_text(publisher.token)
    config = yaml.safe_load(snippet("alertmanager"))
    webhook = config["receivers"][0]["webhook_configs"][0]
    webhook["url"] = server.url + WEBHOOK
    webhook["http_config"]["authorization"]["credentials_file"] = str(token_file)
    config["route"] = {
        "receiver": "priority-notify",
        "group_by": ["alertname"],
        "group_wait": "0s",
        "group_interval": "1s",
        "repeat_interval": "2s",
    }
    config_file = tmp_path / "alertmanager.yml"
    config_file.write_text(yaml.safe_dump(config))
    port = _free_port()
    process = subprocess.Popen(
        [
            str(BINARY),
            f"--config.file={config_file}",
            f"--storage.path={tmp_path / 'am-data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",  # no gossip port on other addresses
            "--log.level=warn",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _ready(url), timeout=20)
        yield url, account
    finally:
        process.terminate()
        process.wait(10)


def _ready(url: str) -> bool:
    try:
        return httpx.get(url + "/-/ready", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _alert(starts: datetime, ends: datetime) -> list[dict[str, Any]]:
    return [
        {
            "labels": {"alertname": "DiskFull", "instance": "web-01", "severity": "critical"},
            "annotations": {"summary": "Disk full on web-01", "description": "/var is at 99%"},
            "startsAt": starts.isoformat(),
            "endsAt": ends.isoformat(),
            "generatorURL": "http://prometheus.example/graph?g0.expr=disk",
        }
    ]


def _webhook_calls(server: ServerProcess) -> int:
    return sum(
        1
        for entry in server.log_entries()
        if entry.get("event") == "request" and entry.get("path") == WEBHOOK
    )


def test_fire_repeat_resolve_fire_resolve(
    server: ServerProcess, client: httpx.Client, alertmanager: tuple[str, Account]
) -> None:
    url, account = alertmanager

    def notifications() -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = client.get(
            "/api/notifications/", params={"source": "alertmanager"}, headers=account.headers
        ).json()["items"]
        return items

    def send(alerts: list[dict[str, Any]]) -> None:
        assert httpx.post(url + "/api/v2/alerts", json=alerts).status_code == 200

    first = datetime.now(UTC) - timedelta(seconds=5)
    send(_alert(first, first + timedelta(hours=1)))
    (firing,) = wait_for(notifications, timeout=20)
    assert (firing["title"], firing["priority"]) == ("Disk full on web-01", "critical")
    assert firing["metadata"]["links"]["generatorURL"].startswith("http://prometheus.example/")

    # Alertmanager repeats the identical firing body: nothing changes, nothing is emitted.
    cursor = client.get("/api/notifications/changes", headers=account.headers).json()["cursor"]
    calls = _webhook_calls(server)
    wait_for(lambda: _webhook_calls(server) >= calls + 2, timeout=20)
    assert notifications() == [firing]
    after = client.get(
        "/api/notifications/changes", params={"after": cursor}, headers=account.headers
    )
    assert after.json()["notifications"] == []

    send(_alert(first, datetime.now(UTC) - timedelta(seconds=1)))  # resolved
    wait_for(lambda: notifications()[0]["title"].startswith("Resolved: "), timeout=20)
    (resolved,) = notifications()
    assert resolved["id"] == firing["id"]
    assert resolved["priority"] == "low"
    assert resolved["metadata"]["resolved_at"]

    # Firing again, starting after the first incident ended (Alertmanager merges overlaps).
    second = datetime.now(UTC)
    send(_alert(second, second + timedelta(hours=1)))
    wait_for(lambda: len(notifications()) == 2, timeout=20)
    send(_alert(second, second + timedelta(milliseconds=1)))  # ended, a moment after it began
    wait_for(lambda: all(n["title"].startswith("Resolved: ") for n in notifications()), timeout=20)
    newest, oldest = notifications()
    assert oldest["id"] == firing["id"]
    assert newest["id"] != firing["id"]
