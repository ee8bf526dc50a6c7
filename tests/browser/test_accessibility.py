"""An accessibility audit: axe-core (the npm package, tests/axe/, installed by `make test`)
injected into the real pages, in light and dark. No serious or critical violation may remain.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.browser.pages import Watched, post, signed_in
from tests.serverproc import Account, ServerProcess

pytestmark = pytest.mark.browser
AXE = Path(__file__).resolve().parents[1] / "axe" / "node_modules" / "axe-core" / "axe.min.js"

if not AXE.exists():
    if os.environ.get("CI"):
        raise RuntimeError("axe-core is required in CI: npm ci --prefix tests/axe")
    pytest.skip("axe-core is not installed (npm ci --prefix tests/axe)", allow_module_level=True)


def _describe(violations: list[dict[str, Any]]) -> str:
    return "\n".join(
        f"{v['impact']}: {v['id']} ({v['help']}) at "
        + ", ".join(str(node["target"]) for node in v["nodes"][:3])
        for v in violations
    )


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("path", ["/", "/tokens"])
def test_no_serious_or_critical_violations(
    browser: Any,
    storage_state: str,
    server: ServerProcess,
    owner: Account,
    path: str,
    scheme: str,
) -> None:
    for priority in ("critical", "high", "medium", "low"):
        post(
            server,
            owner,
            title=f"Audit {priority}",
            priority=priority,
            source="audit",
            message="See https://example.test/runbook",
            metadata={"host": "web-01"},
        )
    # The page's CSP admits only its own scripts: the audit's injected script needs a pass.
    with signed_in(browser, storage_state, server, color_scheme=scheme, bypass_csp=True) as context:
        watched = Watched(context.new_page())
        page = watched.page
        if path == "/":
            watched.open_live("/?source=audit")
            page.locator(".note summary").first.click()  # an open row is audited too
        else:
            page.goto(path)
            page.get_by_label("Name", exact=True).fill("audit")
            page.get_by_role("button", name="Create token").click()
            page.locator("#new-token-curl").wait_for()
        page.add_script_tag(path=str(AXE))
        results = page.evaluate("axe.run(document, { resultTypes: ['violations'] })")
        grave = [v for v in results["violations"] if v["impact"] in ("serious", "critical")]
        assert grave == [], _describe(grave)
        assert watched.errors == []
