"""Search, bulk actions, filtered "mark all read" and sources, through a real server."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.serverproc import Account

BASE = "/api/notifications/"


def _create(client: httpx.Client, account: Account, **body: Any) -> str:
    response = client.post(BASE, json=body, headers=account.headers)
    assert response.status_code == 201, response.text
    created: str = response.json()["id"]
    return created


def _titles(client: httpx.Client, account: Account, **params: Any) -> tuple[list[str], int]:
    response = client.get(BASE, params=params, headers=account.headers)
    assert response.status_code == 200, response.text
    page = response.json()
    return [item["title"] for item in page["items"]], page["total"]


def _statuses(client: httpx.Client, account: Account) -> dict[str, str]:
    page = client.get(BASE, params={"limit": 200}, headers=account.headers).json()
    return {item["id"]: item["status"] for item in page["items"]}


def test_search_matches_word_prefixes_with_every_filter(
    client: httpx.Client, account: Account
) -> None:
    _create(client, account, title="Zebrafish tank too warm", priority="high", source="lab")
    _create(client, account, title="Backup failed", message="zebra crossing camera", source="CI")
    _create(client, account, title="Backup done", message="all fine", source="ci")
    _create(client, account, title="Ünïcode naïve café", source="lab")
    assert _titles(client, account, q="zebra") == (
        ["Backup failed", "Zebrafish tank too warm"],
        2,
    )
    assert _titles(client, account, q="zebra", priority="high")[0] == ["Zebrafish tank too warm"]
    assert _titles(client, account, q="backup", source="Ci")[1] == 2  # source: any case
    assert _titles(client, account, q="backup -fine")[0] == ["Backup failed"]
    assert _titles(client, account, q='"backup done"')[0] == ["Backup done"]
    assert _titles(client, account, q="cafe naive")[0] == ["Ünïcode naïve café"]  # diacritics
    assert _titles(client, account, q="lab")[1] == 2  # the source is searched too
    assert _titles(client, account, q="web-01 OR NEAR(x) title:* (")[1] == 0  # only words
    assert _titles(client, account, q="zebra", limit=1, offset=1) == (
        ["Zebrafish tank too warm"],
        2,
    )


def test_search_follows_updates_and_deletes(client: httpx.Client, account: Account) -> None:
    keyed = {"key": "job-7", "title": "Nightly job failed", "source": "cron"}
    notification_id = _create(client, account, **keyed)
    assert _titles(client, account, q="failed")[1] == 1
    updated = client.post(
        BASE, json={**keyed, "title": "Nightly job recovered"}, headers=account.headers
    )
    assert updated.status_code == 200
    assert _titles(client, account, q="failed")[1] == 0
    assert _titles(client, account, q="recovered")[1] == 1
    assert client.delete(BASE + notification_id, headers=account.headers).status_code == 204
    assert _titles(client, account, q="recovered")[1] == 0


@pytest.mark.parametrize(
    ("query", "problem"),
    [
        ('"unclosed', "q: has a double quote without its closing one"),
        ("-only -excluded", "q: needs a word to look for"),
        ("!!! ...", "q: has no letters or digits"),
        (" ".join(f"w{n}" for n in range(17)), "q: has more than 16 terms"),
        ("x" * 201, "q: must be at most 200 characters"),
    ],
)
def test_a_search_that_cannot_be_one_is_a_422_naming_q(
    client: httpx.Client, account: Account, query: str, problem: str
) -> None:
    response = client.get(BASE, params={"q": query}, headers=account.headers)
    assert response.status_code == 422
    assert response.json()["detail"].startswith(problem)


def test_read_all_takes_the_list_filters(client: httpx.Client, account: Account) -> None:
    critical = [_create(client, account, title=f"c{n}", priority="critical") for n in range(3)]
    others = [_create(client, account, title=f"o{n}", source="Grafana") for n in range(4)]
    response = client.post(
        BASE + "read-all", params={"priority": "critical"}, headers=account.headers
    )
    assert response.status_code == 200
    answer = response.json()
    assert answer["updated"] == 3
    assert sorted(item["id"] for item in answer["changed"]) == sorted(critical)
    assert {item["previous"] for item in answer["changed"]} == {"unread"}
    statuses = _statuses(client, account)
    assert {statuses[i] for i in critical} == {"read"}
    assert {statuses[i] for i in others} == {"unread"}  # untouched
    by_source = client.post(
        BASE + "read-all", params={"source": "grafana", "q": "o1"}, headers=account.headers
    ).json()
    assert [item["id"] for item in by_source["changed"]] == [others[1]]


def test_bulk_by_ids_and_its_undo(client: httpx.Client, account: Account) -> None:
    ids = [_create(client, account, title=f"b{n}") for n in range(3)]
    client.patch(BASE + ids[1], json={"status": "read"}, headers=account.headers)
    archive = {"action": "archive", "ids": ids}
    answer = client.post(BASE + "bulk", json=archive, headers=account.headers).json()
    assert answer["updated"] == 3
    previous = {item["id"]: item["previous"] for item in answer["changed"]}
    assert previous == {ids[0]: "unread", ids[1]: "read", ids[2]: "unread"}
    assert set(_statuses(client, account).values()) == {"archived"}
    for status in ("read", "unread"):  # the undo: each back to what it was, exactly
        back = [i for i, was in previous.items() if was == status]
        undo = {"action": status, "ids": back}
        assert client.post(BASE + "bulk", json=undo, headers=account.headers).status_code == 200
    assert _statuses(client, account) == previous
    deleted = client.post(
        BASE + "bulk", json={"action": "delete", "ids": ids[:2]}, headers=account.headers
    ).json()
    assert deleted["updated"] == 2
    assert list(_statuses(client, account)) == [ids[2]]


def test_bulk_on_everything_matching(client: httpx.Client, account: Account) -> None:
    low = [_create(client, account, title=f"l{n}", priority="low") for n in range(3)]
    kept = _create(client, account, title="kept", priority="high")
    archived = client.post(
        BASE + "bulk",
        params={"priority": "low"},
        json={"action": "archive"},
        headers=account.headers,
    ).json()
    assert sorted(item["id"] for item in archived["changed"]) == sorted(low)
    statuses = _statuses(client, account)
    assert {statuses[i] for i in low} == {"archived"} and statuses[kept] == "unread"
    # "read" with filters takes unread ones only: the archived stay archived.
    read = client.post(
        BASE + "bulk", params={"status": "all"}, json={"action": "read"}, headers=account.headers
    )
    assert [item["id"] for item in read.json()["changed"]] == [kept]


@pytest.mark.parametrize(
    ("params", "body", "problem"),
    [
        ({}, {"action": "explode"}, "action: must be one of read, unread, archive, delete"),
        ({}, {"action": "read", "ids": []}, "ids: must be a list of 1 to 1000 ids"),
        ({}, {"action": "read", "ids": ["x"]}, "ids: must hold ids (UUIDs)"),
        (
            {"priority": "low"},
            {"action": "read", "ids": ["0" * 8 + "-0000-7000-8000-" + "0" * 12]},
            "priority: filters apply only without",
        ),
        ({"q": '"'}, {"action": "read"}, "q: has a double quote"),
    ],
)
def test_bulk_refusals_name_the_field(
    client: httpx.Client,
    account: Account,
    params: dict[str, str],
    body: dict[str, Any],
    problem: str,
) -> None:
    response = client.post(BASE + "bulk", params=params, json=body, headers=account.headers)
    assert response.status_code == 422
    assert response.json()["detail"].startswith(problem)


def test_sources_with_counts_any_case(client: httpx.Client, account: Account) -> None:
    for source in ("Grafana", "grafana", "grafana", "backup", None):
        _create(client, account, title="s", source=source)
    answer = client.get(BASE + "sources", headers=account.headers).json()
    assert [(item["source"].lower(), item["count"]) for item in answer["items"]] == [
        ("grafana", 3),
        ("backup", 1),
    ]
    assert _titles(client, account, source="GRAFANA")[1] == 3
