"""Local mode sign-in, and the tokens API with its QR code, through a real server."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from pnotify import qr
from tests.serverproc import ServerProcess, run_cli, session_cookie_for
from tests.sseclient import async_client, open_stream

SAME_ORIGIN = {"sec-fetch-site": "same-origin"}


def _path(link: str) -> str:
    parts = urlsplit(link)
    return f"{parts.path}?{parts.query}"


@pytest.fixture(scope="module")
def signed_in(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=10) as browser:
        response = browser.get(_path(server.sign_in_link()))
        assert response.status_code == 303
        yield browser


def test_start_up_link_works_once(server: ServerProcess, signed_in: httpx.Client) -> None:
    assert signed_in.get("/api/me").json()["sub"] == "local"
    with httpx.Client(base_url=server.url) as other:
        again = other.get(_path(server.sign_in_link()))
        assert again.status_code == 400
        assert "already used or has expired" in again.text
        assert other.get("/api/me").status_code == 401


def test_login_link_command_prints_a_fresh_link(server: ServerProcess) -> None:
    result = run_cli(server.data_dir, "login-link", env=server.env)
    assert result.returncode == 0, result.stderr
    printed = result.stdout.strip()
    with httpx.Client(base_url=server.url) as browser:
        assert browser.get(_path(printed)).status_code == 303
        assert browser.get("/api/me").json()["auth"] == "session"
    with httpx.Client(base_url=server.url) as late:
        assert late.get(_path(printed)).status_code == 400
        assert late.get("/auth/local", params={"code": "made-up"}).status_code == 400


def test_login_page_in_local_mode_explains_the_link(server: ServerProcess) -> None:
    page = httpx.get(server.url + "/auth/login")
    assert page.status_code == 200 and "login-link" in page.text


def test_create_list_qr_and_revoke(server: ServerProcess, signed_in: httpx.Client) -> None:
    created = signed_in.post(
        "/api/tokens/",
        json={"name": "Pixel 8", "device_type": "android", "scope": "full", "expires_in_days": 30},
        headers=SAME_ORIGIN,
    )
    assert created.status_code == 201, created.text
    body = created.json()
    token = body["token"]
    assert (
        token.startswith(body["prefix"])
        and created.headers["location"] == f"/api/tokens/{body['id']}"
    )
    assert (body["name"], body["device_type"], body["scope"]) == ("Pixel 8", "android", "full")
    assert body["expires_at"] is not None

    listed = signed_in.get("/api/tokens/").json()
    mine = next(item for item in listed["items"] if item["id"] == body["id"])
    assert "token" not in mine and token not in listed.__repr__()
    assert token.split("_", 2)[2] not in signed_in.get("/api/tokens/").text

    png = signed_in.get(body["qr_url"])
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert png.headers["cache-control"] == "no-store"
    assert png.content.startswith(b"\x89PNG\r\n\x1a\n")
    expected = qr.device_link(server.url, token, "Pixel 8")
    assert png.content == qr.render(expected, "png")  # same payload, same image
    assert parse_qs(urlsplit(expected).query) == {
        "server": [server.url],
        "token": [token],
        "name": ["Pixel 8"],
    }
    svg = signed_in.get(body["qr_url"] + "&format=svg")
    assert svg.headers["content-type"] == "image/svg+xml" and svg.content.startswith(b"<svg")
    assert signed_in.get(f"/api/tokens/{body['id']}/qr?ticket=wrong").status_code == 404
    no_ticket = signed_in.get(f"/api/tokens/{body['id']}/qr")
    assert no_ticket.status_code == 422
    assert no_ticket.json()["detail"] == "ticket: is required"

    headers = {"Authorization": f"Bearer {token}"}
    assert httpx.get(server.url + "/api/me", headers=headers).status_code == 200
    assert signed_in.delete(f"/api/tokens/{body['id']}", headers=SAME_ORIGIN).status_code == 204
    assert httpx.get(server.url + "/api/me", headers=headers).status_code == 401
    assert signed_in.delete(f"/api/tokens/{body['id']}", headers=SAME_ORIGIN).status_code == 404
    assert signed_in.get(body["qr_url"]).status_code == 404


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({}, "name: is required"),
        ({"name": " "}, "name: must not be empty"),
        ({"name": "x" * 101}, "name: must be at most 100 characters"),
        (
            {"name": "a", "device_type": "toaster"},
            "device_type: must be one of android, gnome, other",
        ),
        ({"name": "a", "scope": "admin"}, "scope: must be one of publish, full"),
        ({"name": "a", "expires_in_days": 0}, "expires_in_days: must be at least 1"),
        ({"name": "a", "expires_in_days": "30"}, "expires_in_days: must be a whole number"),
        ({"name": "a", "expires_in_days": True}, "expires_in_days: must be a whole number"),
        ({"name": "a", "secret": "mine"}, "secret: unknown field"),
    ],
)
def test_create_validation(signed_in: httpx.Client, body: dict[str, object], detail: str) -> None:
    response = signed_in.post("/api/tokens/", json=body, headers=SAME_ORIGIN)
    assert response.status_code == 422
    assert response.json()["detail"].startswith(detail)


def test_publish_scope_token_from_the_api(server: ServerProcess, signed_in: httpx.Client) -> None:
    created = signed_in.post(
        "/api/tokens/", json={"name": "ci", "scope": "publish"}, headers=SAME_ORIGIN
    ).json()
    headers = {"Authorization": f"Bearer {created['token']}"}
    assert (
        httpx.post(
            server.url + "/api/notifications/", json={"title": "ci"}, headers=headers
        ).status_code
        == 201
    )
    assert httpx.get(server.url + "/api/notifications/", headers=headers).status_code == 403


def test_other_users_tokens_do_not_exist(server: ServerProcess, signed_in: httpx.Client) -> None:
    mine = signed_in.post("/api/tokens/", json={"name": "mine"}, headers=SAME_ORIGIN).json()
    other = server.account("other-token-owner")
    with httpx.Client(
        base_url=server.url, cookies={"pn_session": session_cookie_for(server, other.user_id)}
    ) as them:
        assert them.get("/api/me").json()["id"] == other.user_id
        listed = [item["id"] for item in them.get("/api/tokens/").json()["items"]]
        assert listed == [other.token_id]
        assert them.delete(f"/api/tokens/{mine['id']}", headers=SAME_ORIGIN).status_code == 404
        assert them.get(mine["qr_url"]).status_code == 404
    assert signed_in.delete(f"/api/tokens/{other.token_id}", headers=SAME_ORIGIN).status_code == 404
    assert (
        httpx.get(
            server.url + "/api/me", headers={"Authorization": f"Bearer {mine['token']}"}
        ).status_code
        == 200
    )


@pytest.mark.anyio
async def test_revoking_through_the_api_closes_streams_at_once(
    server: ServerProcess, signed_in: httpx.Client
) -> None:
    created = signed_in.post("/api/tokens/", json={"name": "streaming"}, headers=SAME_ORIGIN).json()
    headers = {"Authorization": f"Bearer {created['token']}"}
    revoke_url = f"/api/tokens/{created['id']}"
    async with async_client(server.url) as http, open_stream(http, headers) as stream:
        assert signed_in.delete(revoke_url, headers=SAME_ORIGIN).status_code == 204
        await stream.until_end(timeout=1)


def test_dashboard_pages_and_filters_without_javascript(
    server: ServerProcess, signed_in: httpx.Client
) -> None:
    account = server.local_account("pager")
    for index in range(55):
        httpx.post(
            server.url + "/api/notifications/",
            json={"title": f"page item {index}", "source": "pager"},
            headers=account.headers,
        )
    first = signed_in.get("/", params={"source": "pager", "status": "all"})
    assert first.status_code == 200
    assert first.text.count('class="note ') == 50
    assert 'rel="next" href="/?status=all&amp;source=pager&amp;offset=50"' in first.text
    assert "page item 54" in first.text and "page item 4<" not in first.text
    second = signed_in.get("/", params={"source": "pager", "status": "all", "offset": 50})
    assert second.text.count('class="note ') == 5
    assert 'rel="prev"' in second.text and 'rel="next"' not in second.text
    odd = signed_in.get("/", params={"status": "bogus", "priority": "<script>", "offset": "-3"})
    assert odd.status_code == 200 and "<script>" not in odd.text  # falls back to defaults
    echoed = signed_in.get("/", params={"source": "<b>x</b>"}).text
    assert "<b>x</b>" not in echoed and "&lt;b&gt;x&lt;/b&gt;" in echoed
