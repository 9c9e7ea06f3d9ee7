"""A real browser (Debian's Chromium, headless, via Playwright: tests/support/browser.py) walks the site
like a reader would.

Screenshots of every page land in test-artifacts/screenshots/ (git-ignored); the path is printed.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.support.browser import needs_chromium

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

SHOTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "screenshots"
VARIANT: dict[int, str] = {}  # id(page) -> "desktop" | "phone-dark", for screenshot names

pytestmark = [pytest.mark.browser, needs_chromium]
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright not installed (pip install .[dev])")


@pytest.fixture(params=["desktop", "phone-dark"])
def page(chromium_browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    browser = chromium_browser
    if request.param == "desktop":
        context = browser.new_context(viewport={"width": 1200, "height": 900})
    else:
        context = browser.new_context(
            viewport={"width": 390, "height": 844}, color_scheme="dark", device_scale_factor=2)
    pg = context.new_page()
    pg.set_default_timeout(15000)
    VARIANT[id(pg)] = request.param
    yield pg
    del VARIANT[id(pg)]
    context.close()


def shoot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}-{VARIANT[id(page)]}.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")


@pytest.mark.slow
def test_reader_walks_the_site(library_site: str, page: Page) -> None:
    site = library_site
    pg = page
    pg.goto(site + "/")
    expect = sync_api.expect
    expect(pg.locator("h1")).to_contain_text("Thursday, 20 March 2025")
    shoot(pg, "1-feed")

    # Previous day skips Wednesday (no papers) to Tuesday.
    pg.click("#prev-period")
    expect(pg.locator("h1")).to_contain_text("Tuesday, 18 March 2025")
    expect(pg.locator("article.card")).to_have_count(2)
    # The title with markup in it is shown as text, never executed.
    expect(pg.locator("article.card h2").nth(1)).to_contain_text("<script>")
    shoot(pg, "2-previous-day")

    # Category filter (htmx swaps the list and updates the address bar).
    pg.goto(site + "/?week=2025-W12")
    pg.select_option("select[name=category]", "cs.IR")
    expect(pg.locator("article.card")).to_have_count(2)
    assert "category=cs.IR" in pg.url

    # Search from the header box, results highlighted.
    box = pg.locator("header input[name=q]")
    box.fill("language models")
    box.press("Enter")
    expect(pg.locator("article.card mark").first).to_be_visible()
    shoot(pg, "3-search")

    # Paginate the search results.
    first_titles = pg.locator("article.card h2").all_inner_texts()
    pg.goto(site + "/search?q=language+models&mode=bm25&limit=5")
    pg.click("a[rel=next]")
    expect(pg.locator(".pager")).to_contain_text("page 2")
    assert pg.locator("article.card h2").all_inner_texts() != first_titles[:5]
    shoot(pg, "4-search-page-2")

    # Open a paper from the feed.
    pg.goto(site + "/?date=2025-03-17")
    pg.click("text=Attention Is Still All You Need")
    expect(pg.locator("h1")).to_have_text("Attention Is Still All You Need")
    expect(pg.locator(".paper .actions a", has_text="PDF")).to_have_attribute(
        "href", "https://arxiv.org/pdf/2503.10001")
    # TeX is typeset by the vendored KaTeX (the raw formula kept as the tooltip).
    expect(pg.locator(".math .katex")).to_be_visible()
    expect(pg.locator(".math")).to_have_attribute("title", "O(n^2)")
    shoot(pg, "5-paper")

    # Trending and the friendly error page.
    pg.goto(site + "/trending")
    expect(pg.locator("article.card").first).to_contain_text("Attention")
    shoot(pg, "6-trending")
    response = pg.goto(site + "/papers/2401.00000")
    assert response is not None and response.status == 404
    expect(pg.locator("h1")).to_have_text("Not found")
    shoot(pg, "7-not-found")

    # The API documentation renders from the vendored Swagger UI (no CDN).
    pg.goto(site + "/docs")
    expect(pg.locator(".opblock").first).to_be_visible()
    assert pg.locator(".opblock").count() >= 10
