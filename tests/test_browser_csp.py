"""The Content-Security-Policy (scripts from this site's files only) breaks nothing a reader uses:
a real Chromium loads the pages, htmx's fragments and Swagger UI with no CSP violation reported."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.browser import needs_chromium

pytestmark = [pytest.mark.browser, needs_chromium]
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright not installed (pip install .[dev])")


@pytest.mark.slow
def test_pages_and_api_docs_run_under_the_csp(library_site: str, chromium_browser: Any) -> None:
    site = library_site
    context = chromium_browser.new_context()
    pg = context.new_page()
    pg.set_default_timeout(15000)
    problems: list[str] = []
    pg.on("console", lambda msg: problems.append(msg.text) if "Content Security Policy" in msg.text else None)
    pg.on("pageerror", lambda err: problems.append(str(err)))
    expect = sync_api.expect
    for path in ("/", "/papers/2503.10001", "/search?q=attention&mode=bm25", "/trending"):
        pg.goto(site + path)
        expect(pg.locator("footer.site")).to_be_visible()
    pg.goto(site + "/docs")
    expect(pg.locator(".opblock").first).to_be_visible()
    assert pg.locator(".opblock").count() >= 10
    context.close()
    assert problems == []
