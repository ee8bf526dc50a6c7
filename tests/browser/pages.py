"""What the browser tests share: Debian's headless Chromium driven by Playwright, a signed-in
session, and pages whose console errors and dialogs are collected.

Never `playwright install` (it downloads a browser from outside): the system chromium is used.
Without Chromium these tests skip with a message, except under CI, where they fail instead.
Fixtures are in conftest.py; these are the helpers.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.serverproc import Account, ServerProcess

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
BASE = "/api/notifications/"
PHONE = {"width": 360, "height": 740}

if not Path(CHROMIUM).exists():
    if os.environ.get("CI"):
        raise RuntimeError("Chromium is required in CI: apt-get install chromium chromium-driver")
    pytest.skip("Chromium is not installed (apt-get install chromium)", allow_module_level=True)


class Watched:
    """A page whose console errors, page errors and dialogs are collected for assertions."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.on("dialog", self._dialog)

    def _console(self, message: Any) -> None:
        if message.type == "error":
            self.errors.append(message.text)

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        if dialog.type == "confirm":
            dialog.accept()
        else:
            dialog.dismiss()

    def open_live(self, path: str = "/") -> Any:
        self.page.goto(path)
        self.page.wait_for_selector('body[data-live="on"]')
        return self.page


def post(server: ServerProcess, account: Account, **body: Any) -> dict[str, Any]:
    response = httpx.post(server.url + BASE, json=body, headers=account.headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def create_token(page: Any, name: str, choices: dict[str, str]) -> str:
    """Create a token on /tokens, choosing the form's selects by label ({"Scope": "publish"});
    returns the secret it shows once."""
    page.goto("/tokens")
    page.get_by_label("Name", exact=True).fill(name)
    for label, value in choices.items():
        page.get_by_label(label, exact=True).select_option(value)
    page.get_by_role("button", name="Create token").click()
    secret = page.locator("#new-token-value")
    expect(secret).to_have_text(re.compile(r"^pn_"))
    return str(secret.inner_text())


def note(page: Any, notification_id: str) -> Any:
    return page.locator(f"#n-{notification_id}")


def click_action(page: Any, notification_id: str, name: str) -> None:
    """A row's actions show on hover (and focus), as a mouse user would find them."""
    row = note(page, notification_id)
    row.hover()
    row.get_by_role("button", name=name, exact=True).click()


@contextlib.contextmanager
def signed_in(
    browser: Any, storage_state: str, server: ServerProcess, **options: Any
) -> Iterator[Any]:
    """A browser context with the signed-in session (and `options`), closed afterwards."""
    context = browser.new_context(storage_state=storage_state, base_url=server.url, **options)
    try:
        yield context
    finally:
        context.close()
