"""Screenshots of the dashboard (desktop light and dark, phone) and the tokens page.

They land in test-artifacts/; with UPDATE_SCREENSHOTS=1 the README's copies in docs/ are
replaced too (`make screenshots`).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.browser.pages import ARTIFACTS, PHONE, post, signed_in
from tests.serverproc import Account, ServerProcess

pytestmark = pytest.mark.browser
DOCS = Path(__file__).resolve().parents[2] / "docs"
SAMPLES = (
    ("Nightly backup finished", "low", "backup", "412 GB in 38 min, 0 errors"),
    ("Deploy of api v2.3 succeeded", "medium", "ci", "pipeline #1842 by alice, 6 min"),
    (
        "Certificate for shop.example expires in 5 days",
        "high",
        "certbot",
        "renewal failed: DNS timeout",
    ),
    ("[FIRING:1] DiskFull web-01", "critical", "alertmanager", "/var at 97 %, 2.1 GB left"),
    ("Grafana: API latency p99 over 800 ms", "high", "grafana", "checkout-service, last 10 min"),
    ("Uptime Kuma: status page is up", "low", "uptime-kuma", "after 3 min down"),
)


def _shoot(context: Any, path: str, name: str, viewport: dict[str, int]) -> None:
    page = context.new_page()
    page.set_viewport_size(viewport)
    page.goto(path)
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(ARTIFACTS / name))
    page.close()


def test_screenshots(
    browser: Any, storage_state: str, server: ServerProcess, owner: Account
) -> None:
    for title, priority, source, message in SAMPLES:
        post(server, owner, title=title, priority=priority, source=source, message=message)
    ARTIFACTS.mkdir(exist_ok=True)
    names = []
    for scheme in ("light", "dark"):
        with signed_in(browser, storage_state, server, color_scheme=scheme) as context:
            _shoot(context, "/", f"dashboard-{scheme}.png", {"width": 1100, "height": 560})
            _shoot(context, "/", f"dashboard-phone-{scheme}.png", PHONE)
            _shoot(context, "/tokens", f"tokens-{scheme}.png", {"width": 1100, "height": 700})
        names += [f"dashboard-{scheme}.png", f"dashboard-phone-{scheme}.png"]
    assert all((ARTIFACTS / name).stat().st_size > 10_000 for name in names)
    if os.environ.get("UPDATE_SCREENSHOTS"):
        (DOCS / "screenshots").mkdir(parents=True, exist_ok=True)
        for name in ("dashboard-light.png", "dashboard-dark.png", "dashboard-phone-light.png"):
            shutil.copy(ARTIFACTS / name, DOCS / "screenshots" / name)
