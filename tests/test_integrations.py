"""The tools people run post here unchanged: the README's own snippets (curl, cron, GitHub
Actions, Home Assistant), Apprise's real CLI (`ntfy://`, `gotify://`, `json://`), and the
bodies Uptime Kuma and Grafana send. Alertmanager, for real, is in test_alertmanager.py."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.readme import snippet
from tests.serverproc import Account, ServerProcess

BASE = "/api/notifications/"
APPRISE = Path(sys.executable).with_name("apprise")


@pytest.fixture
def publisher(server: ServerProcess, account: Account) -> Account:
    """A publish-scope token of the fresh account (`account` reads what it sent)."""
    return server.account("publisher", user_id=account.user_id, scope="publish")


def _shell(command: str, server: ServerProcess, token: str, **env: str) -> None:
    environment = {**os.environ, "PNOTIFY_SERVER": server.url, "PNOTIFY_TOKEN": token, **env}
    result = subprocess.run(
        ["bash", "-c", command], env=environment, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr


def _apprise(*args: str) -> None:
    """Apprise's real command line; it must report success."""
    command = [str(APPRISE), *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def _newest(client: httpx.Client, reader: Account) -> dict[str, Any]:
    items: list[dict[str, Any]] = client.get(BASE, headers=reader.headers).json()["items"]
    assert items, "nothing arrived"
    return items[0]


def test_curl_as_ntfy_documents_it(
    server: ServerProcess, client: httpx.Client, account: Account, publisher: Account
) -> None:
    _shell(snippet("curl-ntfy"), server, publisher.token)
    got = _newest(client, account)
    assert (got["title"], got["priority"], got["source"]) == (
        "Backup failed",
        "critical",
        "backups",
    )
    assert got["message"] == "The nightly backup of db-1 failed"
    assert got["metadata"]["tags"] == ["warning", "backup"]


def test_curl_with_our_api_and_a_key(
    server: ServerProcess, client: httpx.Client, account: Account, publisher: Account
) -> None:
    for _ in range(2):  # the second run updates the same notification
        _shell(snippet("curl-api"), server, publisher.token)
    listed = client.get(BASE, headers=account.headers).json()
    assert listed["total"] == 1
    assert listed["items"][0]["key"] == "disk-web-01"


def test_the_cron_line(
    server: ServerProcess, client: httpx.Client, account: Account, publisher: Account
) -> None:
    command = snippet("cron").split(None, 5)[5]  # what cron runs, without the schedule
    failing = command.replace("/usr/local/bin/backup.sh", "false")
    _shell(failing, server, publisher.token)
    got = _newest(client, account)
    assert got["message"].startswith("backup.sh failed on ")
    assert (got["priority"], got["source"]) == ("high", "cron")


def test_the_github_actions_step(
    server: ServerProcess, client: httpx.Client, account: Account, publisher: Account
) -> None:
    (step,) = yaml.safe_load(snippet("github-actions"))
    run_url = "https://github.com/me/repo/actions/runs/42"
    _shell(
        step["run"],
        server,
        publisher.token,
        GITHUB_WORKFLOW="build",
        GITHUB_REF_NAME="main",
        RUN_URL=run_url,
    )
    got = _newest(client, account)
    assert got["message"] == "build failed on main"
    assert got["metadata"]["click"] == run_url


def test_the_home_assistant_rest_notify(
    server: ServerProcess, client: httpx.Client, account: Account, publisher: Account
) -> None:
    # Home Assistant reads `!secret NAME` from secrets.yaml; here it is the bearer value.
    yaml.add_constructor(
        "!secret", lambda loader, node: f"Bearer {publisher.token}", Loader=yaml.SafeLoader
    )
    (config,) = yaml.safe_load(snippet("home-assistant"))["notify"]
    # What Home Assistant's rest platform sends for POST_JSON: its data plus title and message.
    body = {
        **config["data"],
        config["title_param_name"]: "Garage open",
        config["message_param_name"]: "for 10 minutes",
    }
    url = config["resource"].replace("https://notify.example.com", server.url)
    assert httpx.post(url, json=body, headers=config["headers"]).status_code == 201
    got = _newest(client, account)
    assert (got["title"], got["source"]) == ("Garage open", "home-assistant")


@pytest.mark.skipif(not APPRISE.exists(), reason="Apprise is in the dev extra: make test")
def test_apprise_cli_with_every_url_the_readme_gives(
    server: ServerProcess, client: httpx.Client, account: Account, publisher: Account
) -> None:
    host = server.url.removeprefix("http://")
    expected = [("alerts", "high"), ("alerts", "critical"), ("gotify", "high"), ("apprise", "low")]
    urls = snippet("apprise").replace("$PNOTIFY_TOKEN", publisher.token).split()
    assert len(urls) == len(expected)
    for url, (source, priority) in zip(urls, expected, strict=True):
        url = url.replace("notify.example.com", host)
        _apprise("-vv", "-t", "Disk full", "-b", "on web-01", url)
        got = _newest(client, account)
        assert (got["title"], got["source"], got["priority"]) == ("Disk full", source, priority)


@pytest.mark.skipif(not APPRISE.exists(), reason="Apprise is in the dev extra: make test")
@pytest.mark.parametrize(
    ("name", "priority"),
    [
        ("low", "low"),
        ("moderate", "low"),
        ("normal", "medium"),
        ("high", "high"),
        ("emergency", "critical"),
    ],
)
def test_apprise_gotify_priorities(
    server: ServerProcess,
    client: httpx.Client,
    account: Account,
    publisher: Account,
    name: str,
    priority: str,
) -> None:
    url = f"gotify://{server.url.removeprefix('http://')}/{publisher.token}?priority={name}"
    _apprise("-t", name, "-b", "body", url)
    assert _newest(client, account)["priority"] == priority


@pytest.mark.skipif(not APPRISE.exists(), reason="Apprise is in the dev extra: make test")
def test_apprise_sends_a_long_message_as_a_file(
    server: ServerProcess, client: httpx.Client, account: Account, publisher: Account
) -> None:
    url = f"ntfy://me:{publisher.token}@{server.url.removeprefix('http://')}/logs"
    body = "line of a long log\n" * 500  # over Apprise's 8,000 bytes: sent as an attachment
    _apprise("-t", "Log", "-b", body, url)
    got = _newest(client, account)
    assert "line of a long log" in got["message"]
    assert got["metadata"]["filename"].endswith(".txt")


def test_uptime_kuma_ntfy_and_gotify_bodies(
    server: ServerProcess, client: httpx.Client, account: Account, publisher: Account
) -> None:
    # As Uptime Kuma's providers send them (server/notification-providers/ntfy.js, gotify.js).
    ntfy = {
        "topic": "uptime",
        "message": "[web] [🔴 Down] timeout",
        "priority": 5,
        "title": "web down",
        "tags": ["red_circle"],
    }
    answer = client.post("/", json=ntfy, headers=publisher.headers)
    assert answer.status_code == 200
    assert answer.json()["event"] == "message"
    assert _newest(client, account)["priority"] == "critical"
    gotify = {"message": "[web] [✅ Up] 200 OK", "priority": 8, "title": "Uptime-Kuma"}
    answer = client.post("/message", params={"token": publisher.token}, json=gotify)
    assert answer.status_code == 200
    assert isinstance(answer.json()["id"], int)
    got = _newest(client, account)
    assert (got["title"], got["priority"], got["source"]) == ("Uptime-Kuma", "high", "gotify")


GRAFANA_BODY = {  # from Grafana's webhook contact point documentation
    "receiver": "My Super Webhook",
    "status": "firing",
    "orgId": 1,
    "alerts": [
        {
            "status": "firing",
            "labels": {"alertname": "High memory usage", "team": "blue", "severity": "warning"},
            "annotations": {
                "description": "The system has high memory usage",
                "summary": "Memory high",
            },
            "startsAt": "2021-10-12T09:51:03.157076+02:00",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "https://play.grafana.org/alerting/1afz29v7z/edit",
            "fingerprint": "c6eadffa33fcdf37",
            "silenceURL": "https://play.grafana.org/alerting/silence/new?alertmanager=grafana",
            "dashboardURL": "",
            "panelURL": "",
            "values": {"B": 44.23, "C": 1},
        }
    ],
    "groupLabels": {},
    "commonLabels": {"team": "blue"},
    "commonAnnotations": {},
    "externalURL": "https://play.grafana.org/",
    "version": "1",
    "groupKey": "{}:{}",
    "truncatedAlerts": 0,
    "title": "[FIRING:1]  (blue)",
    "state": "alerting",
    "message": "**Firing**\n\nLabels:\n - alertname = High memory usage",
}


def test_grafana_webhook_with_basic_auth(
    client: httpx.Client, account: Account, publisher: Account
) -> None:
    url = "/api/integrations/alertmanager"
    answer = client.post(url, json=GRAFANA_BODY, auth=("grafana", publisher.token))
    assert answer.status_code == 200
    assert answer.json() == {"received": 1, "created": 1}
    got = _newest(client, account)
    assert (got["title"], got["priority"], got["source"]) == ("Memory high", "medium", "grafana")
    assert got["metadata"]["links"]["silenceURL"].startswith("https://play.grafana.org/")
    again = client.post(url, json=GRAFANA_BODY, auth=("grafana", publisher.token))
    assert again.json() == {"received": 1, "created": 0}  # a repeat changes nothing


@pytest.mark.parametrize(
    ("path", "kwargs", "status"),
    [
        ("/backups", {"content": "x", "headers": {"X-Gotify-Key": "pn_wrong"}}, 401),
        ("/backups", {"content": "x", "headers": {"Authorization": "Digest x"}}, 401),
        ("/bad.topic", {"content": "x"}, 404),
        ("/api", {"content": "x"}, 404),
        ("/", {"json": {"message": "no topic"}}, 422),
        ("/message", {"json": {"title": "no message"}}, 422),
        ("/message", {"json": {"message": "m", "priority": 11}}, 422),
        ("/api/integrations/alertmanager", {"json": {"alerts": "nope"}}, 422),
        ("/api/integrations/alertmanager", {"json": {"alerts": [{"status": "odd"}]}}, 422),
        ("/api/integrations/alertmanager", {"content": b"not json"}, 400),
        ("/api/integrations/apprise", {"json": {"type": "fatal"}}, 422),
        ("/backups", {"content": b"\xff\xfe binary"}, 415),
    ],
)
def test_bad_input_is_a_clear_4xx_and_stores_nothing(
    client: httpx.Client,
    account: Account,
    publisher: Account,
    path: str,
    kwargs: dict[str, Any],
    status: int,
) -> None:
    headers = kwargs.pop("headers", None) or publisher.headers  # the token where it belongs
    answer = client.post(path, headers=headers, **kwargs)
    assert answer.status_code == status, answer.text
    assert "detail" in answer.json()
    assert client.get(BASE, headers=account.headers).json()["total"] == 0


def test_scopes_and_revocation(
    server: ServerProcess, client: httpx.Client, account: Account
) -> None:
    assert (
        client.post("/jobs", content="full scope works", headers=account.headers).status_code == 200
    )
    publisher = server.account("soon-revoked", user_id=account.user_id, scope="publish")
    assert client.post("/jobs", content="x", auth=("", publisher.token)).status_code == 200
    server.revoke_elsewhere(publisher.token_id)
    refused = client.post("/jobs", content="x", auth=("", publisher.token))
    assert refused.status_code == 401


def test_publishing_from_a_browser_session_is_refused(
    server: ServerProcess, account: Account
) -> None:
    from tests.serverproc import session_cookie_for

    cookie = session_cookie_for(server, account.user_id)
    with httpx.Client(base_url=server.url, cookies={"pn_session": cookie}) as browser:
        answer = browser.post("/jobs", content="x", headers={"origin": server.url})
    assert answer.status_code == 403  # publishing takes a token, never a browser session
    assert answer.json()["code"] == "token_required"


def test_the_dashboard_shows_tags_and_links_escaped(
    server: ServerProcess, client: httpx.Client, account: Account, publisher: Account
) -> None:
    from tests.serverproc import session_cookie_for

    headers = {"Tags": "disk,<b>bold</b>", "Click": "https://grafana.example/d/1?x=1&y=2"}
    client.post("/ops", content="look", headers={**publisher.headers, **headers})
    got = _newest(client, account)
    cookie = session_cookie_for(server, account.user_id)
    with httpx.Client(base_url=server.url, cookies={"pn_session": cookie}) as browser:
        html = browser.get(f"/fragments/notifications/{got['id']}").text
    assert "<li>disk</li>" in html
    assert "<li>&lt;b&gt;bold&lt;/b&gt;</li>" in html
    assert 'href="https://grafana.example/d/1?x=1&amp;y=2"' in html


@pytest.mark.skipif(not APPRISE.exists(), reason="Apprise is in the dev extra: make test")
@pytest.mark.parametrize(
    ("name", "priority"),
    [("min", "low"), ("low", "low"), ("default", "medium"), ("high", "high"), ("max", "critical")],
)
def test_apprise_ntfy_priorities(
    server: ServerProcess,
    client: httpx.Client,
    account: Account,
    publisher: Account,
    name: str,
    priority: str,
) -> None:
    host = server.url.removeprefix("http://")
    url = f"ntfy://{publisher.token}@{host}/prio?auth=token&priority={name}"
    _apprise("-t", name, "-b", "body", url)
    assert _newest(client, account)["priority"] == priority
