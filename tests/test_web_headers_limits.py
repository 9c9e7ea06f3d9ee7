"""Hardening seen from outside, over HTTP against a real server on both backends: source links that are
not http(s) never become hrefs, security headers (CSP without inline script) on every response,
request-body caps, NUL characters and absurd ids or dates answered with a 4xx, Atom links that a
forged Host header cannot change."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from lxml import etree

from paperscope.model import HfInfo, Paper
from paperscope.settings import Settings
from paperscope.store import upsert_papers
from paperscope.store import users as user_store
from paperscope.web.app import create_app
from paperscope.web.app_state import app_state
from paperscope.web.rendering import TEMPLATES_DIR
from tests.community_support import add_user
from tests.support.web_data import MON, THU, library, live_server

# The backend matters here (tests/conftest.py): every store-backed test runs on SQLite and PostgreSQL.
pytestmark = pytest.mark.both_backends

HOSTILE_LINK = "javascript:alert(document.domain)//"
BASE = "https://papers.example.org"


def _hostile_papers() -> list[Paper]:
    """Papers as an older version stored them: a `javascript:` code link and project page, and a
    title and abstract with control characters (XML cannot carry them)."""
    when = datetime(2025, 3, 17, 9, tzinfo=UTC)
    return [
        Paper(title="Clickjacking Considered Harmful", arxiv_id="2503.10077", abstract="Links.",
              authors=("Mallory",), categories=("cs.CR",), published=MON, listed=MON, source="test",
              hf=HfInfo(upvotes=900, submitted_at=when, github_repo=HOSTILE_LINK,
                        project_page=" JaVaScRiPt:alert(1)")),
        Paper(title="Bell\x07 and\x1b escape", arxiv_id="2503.40099", abstract="Vertical\x0btab \x01.",
              authors=("Ctrl\x02",), categories=("cs.CL",), published=THU, listed=THU, source="test",
              hf=HfInfo(upvotes=800, submitted_at=datetime(2025, 3, 20, 9, tzinfo=UTC))),
    ]


@pytest.fixture
def site(settings: Settings) -> Iterator[tuple[str, Settings]]:
    settings = replace_settings(settings, base_url=BASE, max_body_bytes=64 * 1024,
                                max_upload_bytes=256 * 1024)
    app = create_app(settings, cache_seconds=30)
    upsert_papers(app_state(app).engine, library() + _hostile_papers())
    with live_server(app) as url:
        yield url, settings
    app_state(app).engine.dispose()


def replace_settings(settings: Settings, **changes: object) -> Settings:
    return settings.model_copy(update=changes)


def test_source_links_that_are_not_http_never_become_hrefs(site: tuple[str, Settings]) -> None:
    url, _ = site
    with httpx.Client(base_url=url) as web:
        pages = {
            "paper": web.get("/papers/2503.10077").text,
            "feed": web.get("/?date=2025-03-17").text,
            "trending": web.get("/trending?limit=100").text,
            "search": web.get("/search", params={"q": "clickjacking", "mode": "bm25"}).text,
            "category": web.get("/categories/cs.CR?date=2025-03-17").text,
        }
        for where, html in pages.items():
            assert "Clickjacking" in html, where
            assert not re.search(r"href=\"\s*javascript:", html, re.IGNORECASE), where
        assert web.get("/papers/2503.10001").text.count('href="https://github.com/example/attn"') == 1
        data = web.get("/papers/2503.10077?format=json").json()
        assert data["github_repo"] is None and data["project_page"] is None
        hf = web.get("/api/papers/2503.10077").json()
        assert hf["githubRepo"] is None and hf["projectPage"] is None


def _inline_script(html: str) -> list[str]:
    scripts = [tag for tag in re.findall(r"<script\b[^>]*>", html, re.IGNORECASE) if "src=" not in tag]
    handlers = re.findall(r"<[^>]+\son[a-z]+\s*=", html, re.IGNORECASE)
    return scripts + handlers


def test_security_headers_on_every_response_and_no_inline_script(site: tuple[str, Settings]) -> None:
    url, _ = site
    with httpx.Client(base_url=url) as web:
        for path in ("/", "/", "/papers/2503.10001", "/papers/2503.10001?format=json", "/api/daily_papers",
                     "/feeds/daily.atom", "/docs", "/static/style.css", "/signin", "/papers/2401.00000",
                     "/openapi.json"):
            r = web.get(path)
            csp = r.headers.get("content-security-policy", "")
            script_src = re.search(r"script-src ([^;]*)", csp)
            assert script_src and script_src.group(1).split() == ["'self'"], (path, csp)
            assert "frame-ancestors 'none'" in csp and r.headers.get("x-frame-options") == "DENY", path
            assert r.headers.get("x-content-type-options") == "nosniff", path
            assert r.headers.get("referrer-policy") == "same-origin", path
            assert r.headers.get("strict-transport-security"), path  # the public address is https
            if r.headers.get("content-type", "").startswith("text/html"):
                assert not _inline_script(r.text), (path, _inline_script(r.text))
        assert "/static/swagger/init.js" in web.get("/docs").text
        assert web.get("/static/swagger/init.js").status_code == 200
    # Templates never carry inline script or on* handlers, whichever page renders them.
    for template in TEMPLATES_DIR.rglob("*.html"):
        assert not _inline_script(template.read_text()), template


def test_request_bodies_over_the_cap_get_413(site: tuple[str, Settings]) -> None:
    url, _ = site
    big = b'{"email": "a@example.org", "pad": "' + b"x" * (100 * 1024) + b'"}'
    with httpx.Client(base_url=url) as web:
        r = web.post("/api/subscriptions", content=big, headers={"content-type": "application/json"})
        assert r.status_code == 413 and "over 65536 bytes" in r.json()["error"]

        def stream() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
            for _ in range(40):
                yield b"x" * 4096

        r = web.post("/api/subscriptions", content=stream(), headers={"content-type": "application/json"})
        assert r.status_code == 413
        # A form page gets the friendly page; small bodies still reach the route.
        r = web.post("/signin", data={"login": "x" * (70 * 1024), "password": "p"})
        assert r.status_code == 413 and "<html" in r.text
        small = web.post("/api/subscriptions", json={"email": "nobody"})
        assert small.status_code in (400, 422) and "email" in small.text and "NUL" not in small.text
        # Uploads have their own, larger cap.
        bib = b"@article{a, title={T}}\n" * (150 * 1024 // 24)
        r = web.post("/library/import", files={"file": ("lib.bib", bib)}, data={"csrf": "x"})
        assert r.status_code != 413
        r = web.post("/library/import", files={"file": ("lib.bib", bib * 3)}, data={"csrf": "x"})
        assert r.status_code == 413
        r = web.post("/api/v1/library/import", content=bib, headers={"content-type": "text/x-bibtex"})
        assert r.status_code == 401  # the upload cap, then the route: sign-in needed
        r = web.post("/api/v1/library/import", content=bib * 3, headers={"content-type": "text/x-bibtex"})
        assert r.status_code == 413


def test_nul_characters_and_absurd_ids_or_dates_get_4xx(site: tuple[str, Settings]) -> None:
    url, settings = site
    from paperscope.store import open_database

    engine = open_database(settings.db_url)
    user = add_user(engine, "nul-tester")
    user_store.create_api_token(engine, user.id, "t", "ps_nultestertoken")
    auth = {"authorization": "Bearer ps_nultestertoken"}
    huge = str(2**63)
    with httpx.Client(base_url=url) as web:
        assert web.post("/signin", data={"login": "nul-tester\x00", "password": "x"}).status_code == 400
        assert web.post("/password-reset", data={"email": "a\x00@example.org"}).status_code == 400
        r = web.post("/api/v1/papers/2503.10001/comments", json={"body": "hi\u0000"}, headers=auth)
        assert r.status_code == 400 and "NUL" in r.json()["error"]
        assert web.post("/api/v1/papers/2503.10001/comments", json={"body": "a\\u0000 is fine"},
                        headers=auth).status_code == 201
        assert web.get("/search", params={"q": "a\x00b"}).status_code == 400
        for method, path in (("PATCH", f"/api/v1/comments/{huge}"), ("DELETE", f"/api/v1/comments/{huge}"),
                             ("PATCH", "/api/v1/comments/2147483648")):
            r = web.request(method, path, json={"body": "edit"}, headers=auth)
            assert r.status_code in (404, 422), (path, r.status_code, r.text)
        for path in (f"/comments/{huge}/edit", f"/comments/{huge}/remove", f"/account/tokens/{huge}/revoke"):
            assert web.post(path, data={"body": "x"}, headers=auth).status_code in (404, 422), path
        for path in ("/?date=9999-12-31", "/?week=9999-W52", "/?month=9999-12",
                     "/api/daily_papers?month=9999-12", "/categories/cs.CL?week=9999-W52",
                     "/?date=0001-01-01",
                     "/feeds/daily.atom?date=9999-12-31", "/api/daily_papers?date=9999-12-31"):
            r = web.get(path)
            # 400 from the period parser, or 422 where the documented pattern already refuses it.
            assert r.status_code in (400, 422), (path, r.status_code)
        assert web.get("/?date=9998-12-31").status_code == 200
    engine.dispose()


def test_atom_feeds_use_the_configured_address_and_survive_control_characters(
        site: tuple[str, Settings]) -> None:
    url, _ = site
    with httpx.Client(base_url=url) as web:
        for path in ("/feeds/trending.atom", "/feeds/daily.atom?date=2025-03-20",
                     "/feeds/category/cs.CL.atom", "/feeds/search.atom?q=escape"):
            forged = web.get(path, headers={"host": "evil.example"})
            assert forged.status_code == 200, (path, forged.text[:300])
            honest = web.get(path)
            for r in (forged, honest):
                assert "evil.example" not in r.text, path
                feed = etree.fromstring(r.content)
                links = [el.get("href") for el in feed.iter("{http://www.w3.org/2005/Atom}link")]
                assert links and all(h.startswith((BASE, "https://arxiv.org/")) for h in links), (path, links)
        daily = web.get("/feeds/daily.atom?date=2025-03-20").text
        assert "Bell and escape" in daily

