"""Fixtures of the browser tests: one Chromium per module, a session signed in once."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.pages import CHROMIUM, FLAGS, Watched, playwright_api
from tests.serverproc import Account, ServerProcess


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def owner(server: ServerProcess) -> Account:
    return server.local_account("browser-tests")


@pytest.fixture(scope="module")
def storage_state(
    browser: Any, server: ServerProcess, tmp_path_factory: pytest.TempPathFactory
) -> str:
    """Sign in once with the start-up link; every context reuses the session cookie."""
    context = browser.new_context()
    page = context.new_page()
    page.goto(server.sign_in_link())
    assert page.url == server.url + "/"
    path = str(tmp_path_factory.mktemp("browser") / "state.json")
    context.storage_state(path=path)
    context.close()
    return path


@pytest.fixture
def context(browser: Any, storage_state: str, server: ServerProcess) -> Iterator[Any]:
    created = browser.new_context(storage_state=storage_state, base_url=server.url)
    yield created
    created.close()


@pytest.fixture
def tab(context: Any) -> Iterator[Watched]:
    watched = Watched(context.new_page())
    yield watched
    assert watched.errors == [], watched.errors  # no console errors, no CSP violations
