"""The inbox in a real browser: search, Gmail-style keys with a roving focus that stays on its
row, bulk actions with undo, a filtered "Mark all read", the phone layout, arrival signals,
the theme switch, Markdown messages and the tokens page's ready-to-run command.

Every test works in a source of its own (`/?source=…`), so rows from other tests never count.
"""

from __future__ import annotations

import itertools
from typing import Any

import httpx
import pytest

from tests.browser.pages import (
    BASE,
    PHONE,
    Watched,
    create_token,
    expect,
    note,
    post,
    signed_in,
)
from tests.serverproc import Account, ServerProcess

pytestmark = pytest.mark.browser
_sources = itertools.count()


def fresh_source(name: str) -> str:
    return f"{name}-{next(_sources)}"


def focused_row(page: Any) -> str | None:
    found: str | None = page.evaluate("document.activeElement.closest('.note')?.dataset.id ?? null")
    return found


def api_status(server: ServerProcess, owner: Account, notification_id: str) -> str:
    response = httpx.get(server.url + BASE + notification_id, headers=owner.headers)
    status: str = response.json()["status"]
    return status


def wait_status(page: Any, notification_id: str, status: str) -> None:
    page.wait_for_selector(f'#n-{notification_id}[data-status="{status}"]', timeout=5000)


def test_search_on_the_page(server: ServerProcess, owner: Account, tab: Watched) -> None:
    source = fresh_source("search")
    wanted = post(server, owner, title="Zebrafish tank warm", source=source)
    post(server, owner, title="Backup finished", message="all fine", source=source)
    page = tab.page
    page.goto(f"/?source={source}")
    page.get_by_label("Search notifications").fill("zebra")
    page.keyboard.press("Enter")
    page.wait_for_url("**q=zebra**")
    assert page.locator(".note").count() == 1 and note(page, wanted["id"]).is_visible()
    page.get_by_label("Search notifications").fill("nothing-matches-this")
    page.keyboard.press("Enter")
    page.wait_for_url("**q=nothing-matches-this**")
    empty = page.locator("#empty")
    expect(empty).to_contain_text("No notifications match")
    expect(empty.get_by_role("link", name="Clear filters")).to_have_attribute("href", "/")
    expect(empty.locator(".known-sources")).to_contain_text(source)  # the user's sources
    page.goto('/?q="unclosed')  # a search that cannot be one says why, no error page
    expect(page.locator("#empty")).to_contain_text("double quote without its closing one")


def test_keys_move_act_and_keep_focus_on_the_row(
    server: ServerProcess, owner: Account, tab: Watched
) -> None:
    source = fresh_source("keys")
    oldest, middle, newest = (
        post(server, owner, title=f"Key row {n}", message=f"Body {n}", source=source)["id"]
        for n in range(3)
    )
    page = tab.page
    page.goto(f"/?source={source}&status=all")
    page.wait_for_selector('body[data-live="on"]')
    assert page.locator('.note[tabindex="0"]').count() == 1  # the list is one tab stop
    page.keyboard.press("j")
    assert focused_row(page) == newest
    page.keyboard.press("j")
    assert focused_row(page) == middle
    page.keyboard.press("k")
    page.keyboard.press("j")
    assert focused_row(page) == middle
    expect(note(page, middle).locator(".preview")).to_have_text("Body 1")
    page.keyboard.press("Enter")  # open: the message shows and it is marked read
    expect(note(page, middle).locator(".message")).to_be_visible()
    wait_status(page, middle, "read")
    assert focused_row(page) == middle
    page.keyboard.press("o")
    expect(note(page, middle).locator(".message")).to_be_hidden()
    for status in ("unread", "read"):
        page.keyboard.press("r")
        wait_status(page, middle, status)
        assert focused_row(page) == middle and api_status(server, owner, middle) == status
    page.keyboard.press("x")
    expect(note(page, middle)).to_have_class("note p-medium s-read selected")
    page.keyboard.press("x")
    page.keyboard.press("e")  # the view shows everything, so the archived row stays
    wait_status(page, middle, "archived")
    assert focused_row(page) == middle
    page.keyboard.press("#")
    expect(note(page, middle)).to_be_hidden()
    assert focused_row(page) in (oldest, newest)  # the next row takes the focus
    page.keyboard.press("z")  # undo: nothing was sent
    expect(note(page, middle)).to_be_visible()
    assert api_status(server, owner, middle) == "archived"


def test_search_help_and_go_keys(server: ServerProcess, owner: Account, tab: Watched) -> None:
    source = fresh_source("search-keys")
    only = post(server, owner, title="Only row", source=source)["id"]
    page = tab.page
    page.goto(f"/?source={source}")
    page.wait_for_selector('body[data-live="on"]')
    page.keyboard.press("j")
    page.keyboard.press("/")
    search = page.get_by_label("Search notifications")
    expect(search).to_be_focused()
    page.keyboard.type("jk")  # typing never fires a shortcut
    expect(search).to_have_value("jk")
    page.keyboard.press("Escape")
    assert focused_row(page) == only
    page.keyboard.press("?")
    expect(page.locator("#help")).to_be_visible()
    expect(page.locator("#help")).to_contain_text("next / previous notification")
    page.keyboard.press("Escape")
    expect(page.locator("#help")).to_be_hidden()
    page.keyboard.press("g")
    page.keyboard.press("i")
    page.wait_for_url(server.url + "/")


def test_archive_in_the_inbox_moves_focus_to_the_next_row(
    server: ServerProcess, owner: Account, tab: Watched
) -> None:
    source = fresh_source("archive")
    first, second = (post(server, owner, title=f"A{n}", source=source)["id"] for n in range(2))
    page = tab.page
    page.goto(f"/?source={source}")
    page.wait_for_selector('body[data-live="on"]')
    page.keyboard.press("j")
    assert focused_row(page) == second
    page.keyboard.press("e")
    note(page, second).wait_for(state="detached")
    assert focused_row(page) == first
    page.get_by_role("button", name="Undo").click()
    note(page, second).wait_for()
    assert api_status(server, owner, second) == "unread"


def test_mark_all_read_changes_only_the_filtered_view(
    server: ServerProcess, owner: Account, tab: Watched
) -> None:
    source = fresh_source("mark-all")
    critical = [
        post(server, owner, title=f"C{n}", priority="critical", source=source) for n in range(3)
    ]
    low = [post(server, owner, title=f"L{n}", priority="low", source=source) for n in range(4)]
    page = tab.page
    page.goto(f"/?source={source}&priority=critical")
    page.wait_for_selector('body[data-live="on"]')
    button = page.locator("#mark-all-read")
    expect(button).to_have_text("Mark 3 read")  # it says how many before it acts
    button.click()
    for item in critical:
        wait_status(page, item["id"], "read")
    expect(button).to_have_text("All read")
    assert {api_status(server, owner, item["id"]) for item in low} == {"unread"}
    page.get_by_role("button", name="Undo").click()
    for item in critical:
        wait_status(page, item["id"], "unread")
    assert {api_status(server, owner, item["id"]) for item in critical} == {"unread"}


def test_bulk_selection_and_undo(server: ServerProcess, owner: Account, tab: Watched) -> None:
    source = fresh_source("bulk")
    ids = [post(server, owner, title=f"B{n}", source=source)["id"] for n in range(3)]
    page = tab.page
    page.goto(f"/?source={source}")
    page.wait_for_selector('body[data-live="on"]')
    for notification_id in ids[:2]:
        note(page, notification_id).locator(".select").check()
    expect(page.locator("#selection-text")).to_have_text("2 selected")
    page.locator("#bulk").get_by_role("button", name="Archive").click()
    for notification_id in ids[:2]:
        note(page, notification_id).wait_for(state="detached")
    expect(page.locator("#toast-text")).to_have_text("2 notifications archived.")
    page.get_by_role("button", name="Undo").click()
    for notification_id in ids[:2]:
        note(page, notification_id).wait_for()
    assert {api_status(server, owner, i) for i in ids} == {"unread"}


def test_select_all_matching_beyond_the_page(
    server: ServerProcess, owner: Account, tab: Watched
) -> None:
    source = fresh_source("matching")
    for n in range(53):
        post(server, owner, title=f"M{n}", source=source)
    page = tab.page
    page.goto(f"/?source={source}")
    page.wait_for_selector('body[data-live="on"]')
    page.get_by_label("Select every notification on this page").check()
    page.get_by_role("button", name="Select all 53 matching").click()
    expect(page.locator("#selection-text")).to_have_text("All 53 matching selected")
    page.locator("#bulk").get_by_role("button", name="Mark read").click()
    expect(page.locator("#toast-text")).to_have_text("53 notifications marked read.")
    unread = httpx.get(
        server.url + BASE, params={"source": source, "status": "unread"}, headers=owner.headers
    ).json()["total"]
    assert unread == 0


def test_a_phone_shows_five_rows_on_the_first_screen(
    browser: Any, storage_state: str, server: ServerProcess, owner: Account
) -> None:
    source = fresh_source("phone")
    for n in range(8):
        post(
            server, owner, title=f"Phone row {n} with a longer title", message="text", source=source
        )
    with signed_in(browser, storage_state, server, viewport=PHONE) as context:
        watched = Watched(context.new_page())
        page = watched.open_live(f"/?source={source}")
        boxes = [row.bounding_box() for row in page.locator(".note").all()]
        on_first_screen = [box for box in boxes if box and box["y"] + box["height"] <= 740]
        assert len(on_first_screen) >= 5, boxes
        header = page.locator("header.top").bounding_box()
        assert header is not None and header["height"] < 56  # one line
        assert watched.errors == []


def test_arrival_favicon_highlight_and_sound(
    server: ServerProcess, owner: Account, tab: Watched
) -> None:
    page = tab.open_live()
    page.locator(".settings summary").click()
    page.get_by_label("Sound for critical").check()  # plays a sample: one chime
    expect(page.locator("body")).to_have_attribute("data-chimes", "1")
    created = post(server, owner, title="Pager!", priority="critical")
    page.wait_for_selector(f"#n-{created['id']}.arrived")
    expect(page.locator("body")).to_have_attribute("data-chimes", "2")
    unread = httpx.get(
        server.url + BASE, params={"status": "unread", "limit": 1}, headers=owner.headers
    ).json()["total"]
    icon = page.locator('link[rel="icon"]')
    expect(icon).to_have_attribute("data-count", str(unread))
    href = icon.get_attribute("href") or ""
    assert href.startswith("data:image/svg+xml,") and f"%3E{unread}%3C" in href
    page.reload()
    assert page.get_by_label("Sound for critical").is_checked()  # remembered


def test_theme_switch_is_remembered(
    browser: Any, storage_state: str, server: ServerProcess
) -> None:
    with signed_in(browser, storage_state, server, color_scheme="light") as context:
        watched = Watched(context.new_page())
        page = watched.page
        page.goto("/")
        background = "getComputedStyle(document.body).backgroundColor"
        light = page.evaluate(background)
        page.get_by_label("Theme").select_option("dark")
        expect(page.locator("html")).to_have_attribute("data-theme", "dark")
        dark = page.evaluate(background)
        assert dark != light and dark == "rgb(18, 20, 23)"
        page.goto("/tokens")
        assert page.evaluate(background) == dark
        page.get_by_label("Theme").select_option("system")
        assert page.evaluate(background) == light
        assert watched.errors == []


def test_markdown_messages_render_a_safe_subset(
    server: ServerProcess, owner: Account, tab: Watched
) -> None:
    message = (
        "**Disk** at `95%`\n\n- [runbook](https://runbook.example/disk)\n"
        "- [x](javascript:alert(1))\n\n<b>raw</b>"
    )
    created = post(server, owner, title="Markdown", message=message, metadata={"markdown": True})
    page = tab.open_live()
    row = note(page, created["id"])
    row.locator("summary").click()
    shown = row.locator(".message")
    assert shown.locator("strong").inner_text() == "Disk"
    assert shown.locator("code").inner_text() == "95%"
    assert [link.get_attribute("href") for link in shown.locator("a").all()] == [
        "https://runbook.example/disk"
    ]
    assert shown.locator("b").count() == 0 and "<b>raw</b>" in shown.inner_text()


def test_new_token_offers_curl_and_a_test_notification(
    server: ServerProcess, owner: Account, tab: Watched
) -> None:
    page = tab.page
    token = create_token(page, "curl test", {"Scope": "publish"})
    command = page.locator("#new-token-curl").inner_text()
    assert f"Authorization: Bearer {token}" in command
    assert f"{server.url}/api/notifications/" in command
    expect(page.locator("#loopback-warning")).to_be_visible()  # 127.0.0.1: not for a phone
    page.get_by_role("button", name="Send a test notification").click()
    expect(page.locator("#test-result")).to_have_text("Sent: it is in your inbox.")
    newest = httpx.get(server.url + BASE, params={"limit": 1}, headers=owner.headers).json()
    assert newest["items"][0]["title"] == "Test notification"


def test_reading_in_the_unread_view_keeps_the_row(
    server: ServerProcess, owner: Account, tab: Watched
) -> None:
    source = fresh_source("unread-view")
    first = post(server, owner, title="Read me here", source=source)["id"]
    page = tab.page
    page.goto(f"/?source={source}&status=unread")
    page.wait_for_selector('body[data-live="on"]')
    applied = int(page.locator("body").get_attribute("data-applied") or 0)
    page.keyboard.press("j")
    page.keyboard.press("Enter")
    wait_status(page, first, "read")
    later = post(server, owner, title="Arrives after", source=source)["id"]
    # Both events (the read's echo, then the arrival) have been applied, in order.
    expect(page.locator("body")).to_have_attribute("data-applied", str(applied + 2))
    note(page, later).wait_for()
    assert note(page, first).is_visible() and focused_row(page) == first
