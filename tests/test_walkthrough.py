"""The walk-through of issue #16 in a real browser (Debian's chromium via Playwright): a person signs
up, searches, votes, saves, comments and submits, and every action leaves them where they were.

One test per finding; each drives the page as a person would (click, type, go back). Screenshots land in
test-artifacts/walkthrough/ (git-ignored).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from paperscope.store import users as user_store
from paperscope.web.app_state import app_state
from tests.community_support import PASSWORD, Clock, add_user
from tests.support.browser import needs_chromium
from tests.support.web_data import library_app, live_server

SHOTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "walkthrough"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    # One worker walks the whole site: the served library and the browser are made once, not per worker.
    pytest.mark.xdist_group("walkthrough"),
    needs_chromium,
]
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright not installed (pip install .[dev])")
expect = sync_api.expect
Page = Any  # playwright's sync Page (typed loosely: playwright is an optional test dependency)


class Site:
    """The app served over HTTP, its settings, and a clock the tests move by hand."""

    def __init__(self, url: str, app: Any, clock: Clock) -> None:
        self.url, self.app, self.clock = url, app, clock
        self.users: set[str] = set()

    def user(self, name: str, role: str = "user") -> str:
        """An account made in the store (once per name); returns the name."""
        if name not in self.users:
            add_user(app_state(self.app).engine, name, role)
            self.users.add(name)
        return name


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    # Vectors for every paper, so similar papers and the meaning-based modes are real.
    with library_app(tmp_path_factory.mktemp("walk-home"), with_vectors=True) as app:
        clock = Clock()
        app_state(app).clock = clock
        with live_server(app) as url:
            yield Site(url, app, clock)


@pytest.fixture(scope="module")
def browser(chromium_browser: Any) -> Any:
    return chromium_browser


@pytest.fixture
def page(browser: Any) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    pg = context.new_page()
    pg.set_default_timeout(15000)
    yield pg
    context.close()


def shoot(pg: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    pg.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def sign_in(pg: Page, site: Site, name: str, role: str = "user") -> None:
    """Sign in through the form, as a person would."""
    site.user(name, role)
    pg.goto(site.url + "/signin")
    pg.fill("#login", name)
    pg.fill("#password", PASSWORD)
    pg.click("form.stacked button[type=submit]")
    expect(pg.locator("header nav")).to_contain_text(name)


# 1. The search form works with blank fields --------------------------------------------------------------

def test_search_form_submits_with_blank_fields(site: Site, page: Page) -> None:
    pg = page
    pg.goto(site.url + "/search")
    pg.fill("form.searchform input[name=q]", "retrieval")
    pg.click("form.searchform button[type=submit]")
    expect(pg.locator("article.card").first).to_be_visible()
    # Change the mode and tick Diverse with both dates left blank: still results, no "invalid parameters".
    pg.select_option("form.searchform select[name=mode]", "bm25")
    pg.check("form.searchform input[name=diverse]")
    pg.click("form.searchform button[type=submit]")
    expect(pg.locator("article.card").first).to_contain_text("Retrieval")
    assert "invalid parameters" not in pg.content()
    # Only a category set (the dates blank).
    pg.fill("form.searchform input[name=category]", "cs.IR")
    pg.click("form.searchform button[type=submit]")
    expect(pg.locator("article.card").first).to_be_visible()
    assert "category=cs.IR" in pg.url
    shoot(pg, "01-search-blank-fields")


# 3. Submitting a listed paper keeps its listing date ------------------------------------------------------

def test_submitting_a_listed_paper_keeps_it_on_its_day(site: Site, page: Page) -> None:
    pg = page
    sign_in(pg, site, "sam")
    pg.goto(site.url + "/submit")
    pg.fill("#paper", "https://arxiv.org/abs/2503.20002v1")
    pg.click("form.stacked button[type=submit]")
    expect(pg.locator("h1")).to_have_text("Sparse Retrieval Revisited")
    expect(pg.locator(".submitted")).to_contain_text("Submitted by sam")
    expect(pg.locator(".paper .meta")).to_contain_text("listed 2025-03-18")
    # Its day's feed still has it; the default feed is still the latest listing day, not "submissions".
    pg.click("text=listed 2025-03-18")
    expect(pg.locator("article.card h2", has_text="Sparse Retrieval Revisited")).to_have_count(1)
    pg.goto(site.url + "/")
    expect(pg.locator("h1")).to_contain_text("Thursday, 20 March 2025")
    shoot(pg, "03-submission-keeps-day")


# 2. Actions keep the reader's place ----------------------------------------------------------------------

def test_votes_and_saves_keep_the_readers_place(site: Site, page: Page) -> None:
    pg = page
    sign_in(pg, site, "rita")
    where = site.url + "/?date=2025-03-20&limit=5&page=2"
    pg.goto(where)
    card = pg.locator("article.card").nth(2)
    title = card.locator("h2").inner_text()
    # ▲ on a feed card upvotes in place: same address, the count goes up, the button says it is pressed.
    vote = card.locator("form.votes button")
    before = int(vote.locator("b").inner_text())
    vote.click()
    expect(card.locator("form.votes button")).to_have_attribute("aria-pressed", "true")
    expect(card.locator("form.votes b")).to_have_text(str(before + 1))
    assert pg.url == where
    # 👍 and Save update in place too.
    card.locator("button[title='More like this']").click()
    expect(card.locator("button[title='More like this']")).to_have_attribute("aria-pressed", "true")
    card.locator(".libactions button", has_text="Save").click()
    expect(card.locator(".libactions button", has_text="Saved")).to_be_visible()
    assert pg.url == where
    shoot(pg, "02-feed-page-2-after-actions")
    # The vote was stored: the paper's page shows it (the feed sorts by upvotes, so the card moved up).
    card.locator("h2 a").click()
    expect(pg.locator("h1")).to_have_text(title)
    expect(pg.locator(".paper form.vote button")).to_have_attribute("aria-pressed", "true")

    # Save on a search result keeps the query.
    pg.goto(site.url + "/search?q=sparse+retrieval&mode=bm25")
    result = pg.locator("article.card").first
    result.locator(".libactions button", has_text="Save").click()
    expect(result.locator(".libactions button", has_text="Saved")).to_be_visible()
    assert "q=sparse+retrieval" in pg.url
    expect(pg.locator("form.searchform input[name=q]")).to_have_value("sparse retrieval")

    # 👎 on a similar-papers card stays on the paper page (header, styles and all).
    pg.goto(site.url + "/papers/2503.40001")
    similar = pg.locator("section.similar article.card").first
    similar.locator("button[title='Less like this']").click()
    expect(similar.locator("button[title='Less like this']")).to_have_attribute("aria-pressed", "true")
    assert pg.url == site.url + "/papers/2503.40001"
    expect(pg.locator("header.site")).to_be_visible()
    shoot(pg, "02-similar-card-feedback")


def test_without_javascript_actions_come_back_to_the_full_address(site: Site, browser: Any) -> None:
    context = browser.new_context(java_script_enabled=False)
    pg = context.new_page()
    try:
        sign_in(pg, site, "nojs")
        where = site.url + "/?date=2025-03-20&limit=5&page=2&sort=newest"  # an order votes do not change
        pg.goto(where)
        pg.locator("article.card").first.locator("form.votes button").click()
        assert pg.url == where
        expect(pg.locator("form.votes button[aria-pressed=true]")).to_have_count(1)
        pg.locator("article.card").nth(1).locator(".libactions button", has_text="Save").click()
        assert pg.url == where
    finally:
        context.close()


# 6. Each page offers its own feed; HEAD works -------------------------------------------------------------

def test_footer_atom_link_follows_the_page(site: Site, page: Page) -> None:
    pg = page
    pg.goto(site.url + "/search?q=late+interaction&mode=bm25")
    atom = pg.locator("footer a", has_text="Atom")
    href = atom.get_attribute("href")
    assert href == "/feeds/search.atom?q=late+interaction&mode=bm25"
    feed = pg.request.get(site.url + href)
    assert feed.ok and b"<title>Late Interaction at Scale</title>" in feed.body()
    pg.goto(site.url + "/trending")
    expect(pg.locator("footer a", has_text="Atom")).to_have_attribute("href", "/feeds/trending.atom")
    assert pg.request.head(site.url + "/").status == 200


# 5. "Hide off-topic" keeps on-topic results of short queries and papers it could not score ----------------

def test_hide_off_topic_keeps_short_query_matches_and_unscored_papers(site: Site, page: Page) -> None:
    from datetime import date

    from paperscope.model import Paper
    from paperscope.store import upsert_papers

    # A paper ingested after the last `paperscope index`: it has no vector, so it cannot be scored.
    upsert_papers(app_state(site.app).engine, [Paper(
        title="Transformer Surrogates for Plasma Control", arxiv_id="2501.00077", source="test",
        abstract="A transformer predicts plasma states.", authors=("N. Ew",),
        categories=("physics.plasm-ph",),
        listed=date(2025, 1, 6), published=date(2025, 1, 6))])
    pg = page
    pg.goto(site.url + "/search")
    pg.fill("form.searchform input[name=q]", "transformer")
    pg.check("form.searchform input[name=threshold]")
    pg.click("form.searchform button[type=submit]")
    titles = pg.locator("article.card h2")
    expect(titles.first).to_be_visible()
    found = titles.all_inner_texts()
    assert "Attention Is Still All You Need" in found  # on topic, cosine 0.36 for a one-word query
    assert "Transformer Surrogates for Plasma Control" in found  # not scored, so not hidden
    assert "Graph Colourings of Sparse Graphs" not in found
    # The page says what the box did.
    expect(pg.locator(".note", has_text="off-topic")).to_be_visible()
    expect(pg.locator(".note", has_text="without vectors")).to_be_visible()
    shoot(pg, "05-hide-off-topic")


# 13. Comments: small headings, no remote images, authors delete, text never lost ----------------------------

def test_comments_keep_the_text_and_let_authors_delete(site: Site, page: Page) -> None:
    pg = page
    sign_in(pg, site, "carla")
    paper = site.url + "/papers/2503.10002"
    pg.goto(paper)
    pg.fill("#comment-body", "# Big claim\n\nSee ![plot](https://tracker.example/pixel.png) and **this**.")
    pg.click(".comment-form button[type=submit]")
    comment = pg.locator("article.comment").first
    expect(comment.locator("strong", has_text="Big claim")).to_be_visible()
    assert comment.locator("h1, h2, h3, img").count() == 0  # no page-size heading, no remote image
    expect(comment.locator("a", has_text="image: plot")).to_have_attribute(
        "href", "https://tracker.example/pixel.png")
    expect(comment.locator("summary")).to_contain_text("min left")

    # A blank comment comes back with a message (not an error page); the form is still there.
    pg.fill("#comment-body", "   \n  ")
    pg.click(".comment-form button[type=submit]")
    expect(pg.locator("#comment-error")).to_contain_text("needs some text")
    expect(pg.locator("h1")).to_have_text("Graph Colourings of Sparse Graphs")

    # An edit after the 15 minutes keeps the text, offered for a new comment.
    pg.goto(paper)
    pg.locator("article.comment summary").first.click()
    editor = pg.locator("article.comment textarea").first
    text = "A careful second thought that took a while to write."
    editor.fill(text)
    site.clock.advance(minutes=16)
    try:
        pg.locator("article.comment form button", has_text="Save").first.click()
        expect(pg.locator("#comment-error")).to_contain_text("15 minutes")
        expect(pg.locator("#comment-body")).to_have_value(text)
        shoot(pg, "13-late-edit-keeps-text")
    finally:
        site.clock.advance(minutes=-16)

    # The author deletes their own comment.
    pg.goto(paper)
    pg.locator("article.comment").first.locator("button", has_text="Delete").click()
    expect(pg.locator("article.comment")).to_have_count(0)


# 14. Errors in plain words, on the page the person was on ---------------------------------------------------

def test_errors_speak_plain_words_where_the_person_is(site: Site, page: Page) -> None:
    pg = page
    # Past the last page: said, with a way back.
    pg.goto(site.url + "/?date=2025-03-20&limit=5&page=999")
    expect(pg.locator(".pastend")).to_contain_text("There is no page 999 here: the last page is 3")
    pg.click("text=Go to page 3")
    expect(pg.locator(".pager")).to_contain_text("page 3 of 3")
    # A digest category nobody has: refused on the form, with the form still filled.
    pg.goto(site.url + "/subscribe")
    pg.fill("input[name=email]", "dora@example.org")
    pg.fill("input[name=categories]", "cs.FAKE")
    pg.locator("form button[type=submit]").last.click()
    expect(pg.locator("[role=alert]")).to_contain_text("cs.FAKE")
    expect(pg.locator("input[name=email]")).to_have_value("dora@example.org")
    # Submitting while arXiv cannot be reached: a sentence, not "[Errno -2] Name or service not known".
    app_state(site.app).settings.arxiv_api_url = "http://offline.invalid/api/query"
    sign_in(pg, site, "olga")
    pg.goto(site.url + "/submit")
    pg.fill("#paper", "2611.00001")
    pg.click("form.stacked button[type=submit]")
    expect(pg.locator(".form-error")).to_contain_text("arXiv could not be reached")
    assert "Errno" not in pg.locator(".form-error").inner_text()
    expect(pg.locator("#paper")).to_have_value("2611.00001")
    shoot(pg, "14-offline-submission")


def test_sign_in_throttle_says_how_long_to_wait(site: Site, page: Page) -> None:
    pg = page
    site.user("tess")
    pg.goto(site.url + "/signin")
    for _ in range(8):
        pg.fill("#login", "tess")
        pg.fill("#password", "wrong password!")
        pg.click("form.stacked button[type=submit]")
        if "try again in" in pg.locator(".form-error").inner_text():
            break
    expect(pg.locator(".form-error")).to_contain_text(re.compile(r"try again in \d+ (second|minute)"))
    expect(pg.locator("#login")).to_have_value("tess")  # still on the sign-in form


# 10. Search: long queries, arXiv ids, plain mode names, order by date, a heading --------------------------

def test_search_reads_like_people_search(site: Site, page: Page) -> None:
    pg = page
    pg.goto(site.url + "/search")
    expect(pg.locator("h1")).to_contain_text("Search")
    box = pg.locator("form.searchform input[name=q]")
    assert box.get_attribute("maxlength") == "500"
    # Mode names for people, each with a tooltip.
    options = pg.locator("select[name=mode] option")
    assert options.all_inner_texts() == ["Best of all", "Keywords", "Meaning", "Precise (late interaction)"]
    assert all(options.nth(i).get_attribute("title") for i in range(4))
    # A pasted 2,000-character query is searched (its start), not a 422 page.
    pg.goto(site.url + "/search?q=" + "retrieval+" * 200)
    expect(pg.locator(".note", has_text="first 500 characters")).to_be_visible()
    expect(pg.locator("article.card").first).to_be_visible()
    # An arXiv URL opens the paper.
    pg.goto(site.url + "/search")
    box.fill("https://arxiv.org/abs/2503.40001v1")
    box.press("Enter")
    expect(pg.locator("h1")).to_have_text("Late Interaction at Scale")
    # An id that is not here offers arXiv and "submit it".
    pg.goto(site.url + "/search")
    box.fill("2611.01234")
    box.press("Enter")
    expect(pg.locator(".notfound a", has_text="see it on arXiv")).to_have_attribute(
        "href", "https://arxiv.org/abs/2611.01234")
    # Quotes are said to be ignored; newest first orders by listing date.
    pg.goto(site.url + '/search?q="sparse+retrieval"&mode=bm25')
    expect(pg.locator(".note", has_text="quotes")).to_be_visible()
    pg.goto(site.url + "/search?q=retrieval&mode=bm25")
    pg.select_option("select[name=sort]", "newest")
    pg.click("form.searchform button[type=submit]")
    expect(pg.locator(".note", has_text="newest first")).to_be_visible()
    days = [d for d in pg.locator("article.card .meta .muted").all_inner_texts() if d.startswith("20")]
    assert days == sorted(days, reverse=True) and len(days) >= 2
    shoot(pg, "10-search-newest")


# 8. "For you" and "today" on data older than the wall clock ------------------------------------------------

def test_for_you_and_the_latest_day_work_on_old_data(site: Site, page: Page) -> None:
    pg = page
    # The library's papers are from March 2025, far more than 90 days before the wall clock.
    pg.goto(site.url + "/")
    expect(pg.locator(".latestnote")).to_contain_text("the latest day with papers")
    sign_in(pg, site, "fay")
    pg.goto(site.url + "/?date=2025-03-20&sort=newest")
    card = pg.locator("article.card", has=pg.locator("h2", has_text="Late Interaction at Scale"))
    card.locator("button[title='More like this']").click()
    expect(card.locator("button[title='More like this']")).to_have_attribute("aria-pressed", "true")
    pg.goto(site.url + "/foryou?days=7")
    expect(pg.locator("article.card").first).to_be_visible()
    expect(pg.locator("main")).to_contain_text("up to the newest listing (2025-03-20)")
    shoot(pg, "08-for-you-old-data")


# 7. Everything is linked; sign-up lands somewhere useful -------------------------------------------------

def test_new_member_finds_library_for_you_subscribe_and_similar(site: Site, page: Page) -> None:
    pg = page
    pg.goto(site.url + "/papers/2503.20002")
    expect(pg.locator("header nav a", has_text="Subscribe")).to_be_visible()
    # Sign up from a paper ("Sign in to comment" → "Create an account"), and come back to it.
    pg.click("text=Sign in")
    pg.click("text=Create an account")
    pg.fill("#username", "newbie")
    pg.fill("#email", "newbie@example.org")
    pg.fill("#password", PASSWORD)
    pg.click("form.stacked button[type=submit]")
    expect(pg.locator("h1")).to_have_text("Sparse Retrieval Revisited")
    # A new account acts once its address is confirmed by the mailed link (#17); confirmed here directly.
    newbie = user_store.find_user(app_state(site.app).engine, "newbie")
    assert newbie is not None
    user_store.mark_verified(app_state(site.app).engine, newbie.id)
    nav = pg.locator("header nav")
    for name, path in (("Library", "/library"), ("For you", "/foryou"), ("Subscribe", "/subscribe")):
        expect(nav.locator("a", has_text=name)).to_have_attribute("href", path)
    # "More similar papers" leads to the /similar page.
    pg.click("text=More similar papers")
    expect(pg.locator("h1")).to_contain_text("Similar to 1 paper")
    pg.click("header nav >> text=Library")
    expect(pg.locator("h1")).to_have_text("Your library")
    # Signing up without a page to go back to lands on a page that says what to do next.
    pg.click("text=Sign out")
    pg.goto(site.url + "/signup")
    pg.fill("#username", "newbie2")
    pg.fill("#email", "newbie2@example.org")
    pg.fill("#password", PASSWORD)
    pg.click("form.stacked button[type=submit]")
    expect(pg.locator(".getstarted")).to_contain_text("Welcome!")
    expect(pg.locator(".getstarted a", has_text="For you")).to_be_visible()
    shoot(pg, "07-welcome")


# 12. Trending explained, with controls; categories with names; one default order ------------------------

def test_trending_and_categories_speak_plainly(site: Site, page: Page) -> None:
    pg = page
    pg.goto(site.url + "/trending")
    assert pg.locator(".feedhead code").count() == 0  # no raw formula as the subtitle
    pg.click("text=how trending works")
    expect(pg.locator("#how-trending code")).to_be_visible()
    pg.select_option("select[name=days]", "30")
    pg.select_option(".trendfilter select[name=category]", "cs.IR")
    pg.click(".trendfilter button[type=submit]")
    assert "days=30" in pg.url and "category=cs.IR" in pg.url
    expect(pg.locator("h1")).to_contain_text("cs.IR")
    shoot(pg, "12-trending")
    pg.goto(site.url + "/categories")
    item = pg.locator(".catlist li", has_text="cs.CL")
    expect(item).to_contain_text("Computation and Language")
    box = item.locator(".count").bounding_box()
    chip = item.locator(".chip").bounding_box()
    assert box and chip and abs(box["y"] - chip["y"]) < chip["height"]  # the count stays on the line
    item.locator("a").click()
    expect(pg.locator(".tabs[aria-label=Sort] a[aria-current]")).to_have_text("Upvotes")  # as the feed
    shoot(pg, "12-categories")


# 11. Paper page: long author lists fold, icons not emoji, a missing paper offers arXiv ----------------------

def test_paper_page_folds_authors_and_offers_missing_papers(site: Site, page: Page) -> None:
    from datetime import date

    from paperscope.model import Paper
    from paperscope.store import upsert_papers

    upsert_papers(app_state(site.app).engine, [Paper(
        title="A Detector Paper", arxiv_id="2501.00300", source="test", categories=("hep-ex",),
        abstract="We measure many things with a very large collaboration.", listed=date(2025, 1, 7),
        authors=tuple(f"Physicist {i}" for i in range(320)))])
    pg = page
    pg.goto(site.url + "/papers/2501.00300")
    abstract = pg.locator(".abstract.full").bounding_box()
    assert abstract is not None and abstract["y"] < 900  # above the fold
    rest = pg.locator(".moreauthors .rest")
    expect(rest).to_be_hidden()
    pg.click("text=and 310 more authors")
    expect(rest).to_be_visible()
    expect(rest).to_contain_text("Physicist 200")
    shoot(pg, "11-many-authors")
    # 👍/👎 are drawn as SVG, not emoji that some systems show as empty boxes.
    sign_in(pg, site, "ivan")
    pg.goto(site.url + "/papers/2501.00300")
    assert pg.locator(".paper button[title='More like this'] svg").count() == 1
    assert "👍" not in pg.locator(".paper .actions").inner_text()
    # An arXiv id this library lacks: a 404 that links arXiv and "submit it".
    response = pg.goto(site.url + "/papers/2611.04242")
    assert response is not None and response.status == 404
    expect(pg.locator(".notfound a", has_text="on arXiv")).to_have_attribute(
        "href", "https://arxiv.org/abs/2611.04242")
    pg.click("text=submit it here")
    expect(pg.locator("#paper")).to_have_value("2611.04242")


# 15. Library: the BibTeX import lands on the library and says what it skipped -----------------------------

def test_bibtex_import_reports_on_the_library_page(site: Site, page: Page, tmp_path: Path) -> None:
    bib = tmp_path / "refs.bib"
    bib.write_text("@article{attn, title={Attention Is Still All You Need}, eprint={2503.10001}}\n"
                   "@article{ghost, title={A Paper Nobody Has Written Yet About Ghosts}}\n"
                   "@article{broken, title={Unclosed\n", encoding="utf-8")
    pg = page
    sign_in(pg, site, "lena")
    pg.goto(site.url + "/library")
    form = pg.locator("form.importform")
    # Label, file and tags on one tidy row: nothing overflows the page.
    box, main = form.bounding_box(), pg.locator("main").bounding_box()
    assert box and main and box["x"] + box["width"] <= main["x"] + main["width"] + 1
    form.locator("input[type=file]").set_input_files(str(bib))
    form.locator("#bibtags").fill("thesis")
    form.locator("button[type=submit]").click()
    expect(pg.locator(".importreport")).to_contain_text("1 added")
    expect(pg.locator(".importreport")).to_contain_text("ghost")
    assert re.search(r"/library\?", pg.url) and "/library/import" not in pg.url
    expect(pg.locator("article.card h2", has_text="Attention Is Still All You Need")).to_be_visible()
    shoot(pg, "15-bibtex-import")


# 16. Accessibility: axe-core finds nothing serious on any page; keyboard use ----------------------------

AXE = Path(__file__).parent / "fixtures" / "axe" / "axe.min.js"
AXE_PAGES = ["/", "/?date=2025-03-18", "/trending", "/categories", "/categories/cs.CL", "/search",
             "/search?q=retrieval", "/papers/2503.10001", "/signin", "/signup", "/subscribe",
             "/papers/2611.00999", "/library", "/foryou", "/account", "/submit", "/similar?ids=2503.10001"]


# The dark scheme is a media query that only swaps colours (checked below), so in it only the rules that
# read colours can find anything new.
COLOUR_RULES = ["color-contrast", "link-in-text-block"]
STYLESHEETS = Path(__file__).resolve().parents[1] / "src" / "paperscope" / "web" / "static"


def serious_violations(pg: Page, rules: list[str] | None = None) -> list[str]:
    """axe-core's serious and critical violations on the current page (every rule, or only `rules`), one
    line each. axe must already be on the page (`add_axe`)."""
    options: dict[str, Any] = {"resultTypes": ["violations"]}
    if rules:
        options["runOnly"] = {"type": "rule", "values": rules}
    result = pg.evaluate("options => axe.run(document, options)", options)
    return [f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes'][:3]]}"
            for v in result["violations"] if v["impact"] in ("serious", "critical")]


def test_dark_scheme_only_swaps_colours() -> None:
    # What lets the axe walk check the dark scheme with the colour rules alone.
    for sheet in STYLESHEETS.glob("*.css"):
        css = sheet.read_text()
        for block in re.finditer(r"@media[^{]*prefers-color-scheme:\s*dark[^{]*\{(.*?\})\s*\}", css, re.S):
            declarations = re.findall(r"([\w-]+)\s*:\s*([^;}]+)", re.sub(r"[^{}]*\{", "", block.group(1)))
            assert declarations, f"{sheet.name}: a dark-scheme block with nothing in it"
            for name, value in declarations:
                assert name.startswith("--") and re.fullmatch(r"#[0-9a-fA-F]{3,8}|none", value.strip()), (
                    f"{sheet.name}: the dark scheme sets {name}: {value}; if it does more than swap "
                    "colours, test_axe_finds_no_serious_violations must run every rule in it")


def test_axe_finds_no_serious_violations(site: Site, browser: Any) -> None:
    # bypass_csp: axe is injected as a script of the test's, which the site's CSP (rightly) refuses.
    context = browser.new_context(viewport={"width": 1200, "height": 900}, color_scheme="light",
                                  bypass_csp=True)
    pg = context.new_page()
    try:
        found = {}
        for who in ("visitor", "member"):
            if who == "member":
                sign_in(pg, site, "axel")
                pg.goto(site.url + "/papers/2503.10001")
                pg.fill("#comment-body", "A comment with a [link](https://example.org) in it.")
                pg.click(".comment-form button[type=submit]")
            for path in AXE_PAGES:
                pg.emulate_media(color_scheme="light")
                pg.goto(site.url + path)  # waits for the load event: these pages fetch nothing after it
                pg.evaluate("document.fonts.ready.then(() => true)")  # the text's final size, for contrast
                pg.add_script_tag(path=str(AXE))
                # Each page in both colour schemes, loaded once.
                for scheme, rules in (("light", None), ("dark", COLOUR_RULES)):
                    pg.emulate_media(color_scheme=scheme)
                    problems = serious_violations(pg, rules)
                    if problems:
                        found[f"{who} {path} ({scheme})"] = problems
        assert found == {}, "\n".join(f"{p}: {x}" for p, xs in found.items() for x in xs)
    finally:
        context.close()


def test_keyboard_skip_link_focus_ring_and_shortcuts(site: Site, page: Page) -> None:
    pg = page
    sign_in(pg, site, "kim")
    pg.goto(site.url + "/?date=2025-03-18&sort=newest")
    # Tab first reaches the skip link, which takes focus to the content.
    pg.keyboard.press("Tab")
    skip = pg.locator("a.skip")
    expect(skip).to_be_focused()
    assert (skip.bounding_box() or {"x": -1})["x"] >= 0  # shown when focused
    pg.keyboard.press("Enter")
    expect(pg.locator("main")).to_be_focused()
    # The segmented tabs get a visible focus ring.
    tab = pg.locator(".tabs[aria-label=Period] a").first
    tab.focus()
    pg.keyboard.press("Shift+Tab")
    pg.keyboard.press("Tab")
    width = tab.evaluate("el => getComputedStyle(el).outlineWidth")
    assert float(width.rstrip("px")) >= 2
    # Shortcuts: j/k move between papers, u upvotes, s saves, / searches, ? shows the help.
    pg.locator("h1").click()
    pg.keyboard.press("j")
    first = pg.locator("article.card").nth(0)
    expect(first).to_have_class(re.compile(r"\bcurrent\b"))
    pg.keyboard.press("j")
    second = pg.locator("article.card").nth(1)
    expect(second).to_have_class(re.compile(r"\bcurrent\b"))
    pg.keyboard.press("k")
    expect(first).to_have_class(re.compile(r"\bcurrent\b"))
    pg.keyboard.press("u")
    expect(first.locator("form.votes button")).to_have_attribute("aria-pressed", "true")
    pg.keyboard.press("s")
    expect(first.locator(".libactions button", has_text="Saved")).to_be_visible()
    pg.locator("h1").click()
    pg.keyboard.press("?")
    expect(pg.locator("#keyhelp")).to_be_visible()
    shoot(pg, "16-keyboard-help")
    pg.keyboard.press("Escape")
    expect(pg.locator("#keyhelp")).to_be_hidden()
    pg.keyboard.press("/")
    expect(pg.locator("header input[name=q]")).to_be_focused()


def test_tex_is_typeset_not_shown_raw(site: Site, page: Page) -> None:
    pg = page
    pg.goto(site.url + "/papers/2503.10001")
    math = pg.locator(".abstract .math")
    expect(math.locator(".katex-html")).to_be_visible()  # typeset by the vendored KaTeX
    expect(math.locator("annotation")).to_have_text("O(n^2)")  # MathML keeps the TeX for screen readers
    assert "$" not in pg.locator(".abstract").inner_text()
    shoot(pg, "11-tex")
