"""The web UI's foundations in a real browser (Debian's Chromium, see tests/browser.py): live
updates, sync between tabs, escaping, tokens, no-JavaScript first paint, phone width, restart.
The inbox's keyboard, bulk, search and arrival features are in test_dashboard.py.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser.pages import (
    ARTIFACTS,
    BASE,
    PHONE,
    Watched,
    click_action,
    create_token,
    expect,
    note,
    post,
    signed_in,
)
from tests.serverproc import Account, ServerProcess

pytestmark = pytest.mark.browser


def test_notification_appears_live_and_expands(
    server: ServerProcess, owner: Account, tab: Watched
) -> None:
    page = tab.open_live()
    created = post(
        server,
        owner,
        title="Disk full on web-01",
        message="Usage at 95%\nSee https://grafana.example/d/disk and javascript:alert(1)",
        priority="critical",
        source="monitoring",
        metadata={"host": "web-01", "usage": 0.95},
    )
    item = note(page, created["id"])
    item.wait_for()
    assert item.locator(".title").inner_text() == "Disk full on web-01"
    assert "Critical" in item.locator(".badge").text_content()  # not by colour alone
    assert item.locator(".source").inner_text() == "monitoring"
    assert item.locator(".message").is_hidden()
    item.locator("summary").click()
    message = item.locator(".message")
    assert message.is_visible()
    assert message.inner_text().splitlines()[0] == "Usage at 95%"
    links = message.locator("a")
    assert links.count() == 1 and links.get_attribute("href") == "https://grafana.example/d/disk"
    assert "javascript:alert(1)" in message.inner_text()
    assert item.locator(".metadata dd").first.inner_text() == "web-01"


def test_read_and_delete_sync_between_tabs(
    server: ServerProcess, owner: Account, context: Any
) -> None:
    tab_a, tab_b = Watched(context.new_page()), Watched(context.new_page())
    page_a, page_b = tab_a.open_live(), tab_b.open_live()
    created = post(server, owner, title="Sync me", priority="high")
    note(page_a, created["id"]).wait_for()
    note(page_b, created["id"]).wait_for()

    click_action(page_a, created["id"], "Mark read")
    page_b.wait_for_selector(f'#n-{created["id"]}[data-status="read"]', timeout=2000)
    assert note(page_b, created["id"]).locator('button[data-action="unread"]').count() == 1

    click_action(page_a, created["id"], "Delete")
    assert page_a.locator("#toast").is_visible()  # with an undo, for five seconds
    note(page_b, created["id"]).wait_for(state="detached", timeout=10_000)
    assert httpx.get(server.url + BASE + created["id"], headers=owner.headers).status_code == 404
    assert tab_a.errors == [] and tab_b.errors == []


def test_undo_keeps_the_notification(server: ServerProcess, owner: Account, tab: Watched) -> None:
    page = tab.open_live()
    created = post(server, owner, title="Keep me")
    item = note(page, created["id"])
    item.wait_for()
    click_action(page, created["id"], "Delete")
    assert item.is_hidden()
    page.get_by_role("button", name="Undo").click()
    assert item.is_visible()
    assert httpx.get(server.url + BASE + created["id"], headers=owner.headers).status_code == 200


def test_filters_live_in_the_url(server: ServerProcess, owner: Account, tab: Watched) -> None:
    critical = post(server, owner, title="Only critical", priority="critical", source="filters")
    low = post(server, owner, title="Only low", priority="low", source="filters")
    page = tab.page
    page.goto("/?priority=critical&source=filters")
    assert note(page, critical["id"]).is_visible()
    assert note(page, low["id"]).count() == 0
    page.select_option("select[name=priority]", "low")
    page.wait_for_url("**/?*priority=low*")
    assert note(page, low["id"]).is_visible() and note(page, critical["id"]).count() == 0
    page.reload()
    assert page.locator("select[name=priority]").input_value() == "low"


def test_unread_count_in_title(server: ServerProcess, owner: Account, tab: Watched) -> None:
    page = tab.open_live()
    post(server, owner, title="Count me")
    unread = httpx.get(
        server.url + BASE, params={"status": "unread", "limit": 1}, headers=owner.headers
    ).json()["total"]
    expect(page).to_have_title(re.compile(rf"^\({unread}\) Notifications"))
    page.locator("#mark-all-read").click()
    expect(page).to_have_title("Notifications · priority-notify")


def test_markup_in_a_title_is_only_text(
    server: ServerProcess, owner: Account, tab: Watched
) -> None:
    page = tab.open_live()
    created = post(
        server, owner, title="<img src=x onerror=alert(1)>", message="<script>alert(2)</script>"
    )
    item = note(page, created["id"])
    item.wait_for()
    assert item.locator(".title").inner_text() == "<img src=x onerror=alert(1)>"
    assert item.locator("img").count() == 0 and item.locator("script").count() == 0
    page.reload()
    note(page, created["id"]).locator("summary").click()
    assert tab.dialogs == []


def test_token_create_shows_secret_once_and_revoke(server: ServerProcess, tab: Watched) -> None:
    page = tab.page
    token = create_token(page, "Browser phone", {"Device": "android"})
    assert token.startswith("pn_")
    assert "you will not see it again" in page.locator("#new-token").inner_text()
    qr_image = page.locator("#new-token-qr")
    expect(qr_image).to_have_attribute("src", re.compile(r"/api/tokens/.+/qr\?ticket="))
    page.wait_for_load_state("networkidle")
    assert qr_image.evaluate("image => image.complete && image.naturalWidth") > 0
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "tokens-new-token.png"), full_page=True)
    headers = {"Authorization": f"Bearer {token}"}
    assert httpx.get(server.url + "/api/me", headers=headers).status_code == 200

    page.reload()
    assert token not in page.content()
    row = page.locator("#token-rows tr", has_text="Browser phone")
    assert row.count() == 1
    row.get_by_role("button", name="Revoke").click()  # the confirm() is accepted
    row.wait_for(state="detached")
    assert any(d.startswith("confirm: Revoke") for d in tab.dialogs)
    assert httpx.get(server.url + "/api/me", headers=headers).status_code == 401


def test_first_paint_works_without_javascript(
    browser: Any, storage_state: str, server: ServerProcess, owner: Account
) -> None:
    created = post(server, owner, title="Server rendered")
    with signed_in(browser, storage_state, server, java_script_enabled=False) as context:
        page = context.new_page()
        page.goto("/")
        assert note(page, created["id"]).locator(".title").inner_text() == "Server rendered"
        assert note(page, created["id"]).locator(".actions").is_hidden()


@pytest.mark.parametrize("path", ["/", "/tokens"])
def test_phone_width_has_no_horizontal_scroll(
    browser: Any, storage_state: str, server: ServerProcess, path: str
) -> None:
    with signed_in(browser, storage_state, server, viewport=PHONE) as context:
        watched = Watched(context.new_page())
        watched.page.goto(path)
        overflow = watched.page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0
        assert watched.errors == []


def test_desktop_alerts_toggle_is_remembered(
    browser: Any, storage_state: str, server: ServerProcess
) -> None:
    with signed_in(browser, storage_state, server) as context:
        context.grant_permissions(["notifications"], origin=server.url)
        watched = Watched(context.new_page())
        page = watched.open_live()
        page.get_by_role("group").filter(has_text="Alerts").locator("summary").click()
        page.get_by_label("Desktop alerts for high and critical").check()
        page.reload()
        page.wait_for_selector('body[data-live="on"]')
        assert page.get_by_label("Desktop alerts for high and critical").is_checked()
        assert watched.errors == []


def test_live_updates_survive_a_server_restart(browser: Any, tmp_path: Path) -> None:
    from tests.oidc_provider import free_port

    running = ServerProcess.start(tmp_path / "data", args=["--port", str(free_port())])
    try:
        account = running.local_account("restart")
        context = browser.new_context(base_url=running.url)
        watched = Watched(context.new_page())
        watched.page.goto(running.sign_in_link())
        page = watched.open_live()
        running.restart()
        expect(page.locator("#live")).to_have_attribute("data-state", "off")
        # Published while the page is still reconnecting: the replay brings it.
        created = post(running, account, title="While you were away")
        note(page, created["id"]).wait_for(timeout=15_000)
        expect(page.locator("#live")).to_have_attribute("data-state", "on")
        context.close()
    finally:
        running.stop()
    # The dropped connection is logged by the browser as a failed request; nothing else.
    assert all("event-stream" in e or "ERR_" in e for e in watched.errors), watched.errors
