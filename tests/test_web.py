"""The web pages and their JSON twins (on SQLite; the store queries behind them run on both backends in
the store, cache and hardening tests)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from paperscope.feed.trending import trending_score
from paperscope.model import Paper
from paperscope.settings import Settings
from paperscope.store import get_paper, open_database, upsert_papers
from paperscope.web.app import create_app
from paperscope.web.app_state import app_state
from tests.support.web_data import MON, THU, TUE, load_library


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    load_library(open_database(settings.db_url))
    app = create_app(settings, cache_seconds=0)
    with TestClient(app) as c:
        yield c
    app_state(app).engine.dispose()


def ids(data: dict) -> list[str]:
    return [p["id"] for p in data["papers"]]


def test_feed_defaults_to_latest_day_and_html_matches_json(client: TestClient) -> None:
    data = client.get("/?format=json").json()
    assert data["period"]["key"] == THU.isoformat()
    assert data["total"] == 14
    html = client.get("/").text
    assert "Thursday, 20 March 2025" in html
    for title in (p["title"] for p in data["papers"]):
        assert title in html


def test_previous_and_next_skip_days_without_papers(client: TestClient) -> None:
    thu = client.get("/?format=json").json()
    assert thu["previous"]["key"] == TUE.isoformat()  # Wednesday had no papers
    assert thu["next"] is None
    tue = client.get(f"/?date={TUE}&format=json").json()
    assert (tue["previous"]["key"], tue["next"]["key"]) == (MON.isoformat(), THU.isoformat())
    mon = client.get(f"/?date={MON}&format=json").json()
    assert mon["previous"] is None
    # The HTML page links to the same neighbours.
    assert f'href="/?date={TUE}"' in client.get("/").text


def test_sorts_and_category_filter(client: TestClient) -> None:
    by_votes = client.get(f"/?date={TUE}&sort=upvotes&format=json").json()
    assert ids(by_votes) == ["2503.20002", "2503.20001"]  # 12 upvotes before 5
    newest = client.get(f"/?date={MON}&sort=newest&format=json").json()
    assert ids(newest) == ["2503.10002", "2503.10001"]
    cl = client.get("/?week=2025-W12&category=cs.CL&format=json&limit=100").json()
    # Cross-listed papers count (2503.20001 is cs.LG primary, cs.CL secondary); math.CO does not.
    assert "2503.20001" in ids(cl) and "2503.10002" not in ids(cl)
    assert cl["period"]["kind"] == "week" and cl["total"] == 15


def test_week_and_month_listings(client: TestClient) -> None:
    week = client.get("/?week=2025-W12&format=json&limit=100").json()
    assert (week["period"]["start"], week["period"]["end"]) == ("2025-03-17", "2025-03-23")
    assert week["total"] == 18
    month = client.get("/?month=2025-03&format=json").json()
    assert month["total"] == 18 and month["previous"] is None and month["next"] is None


def test_pagination(client: TestClient) -> None:
    first = client.get("/?limit=10&sort=newest&format=json").json()
    second = client.get("/?limit=10&sort=newest&page=2&format=json").json()
    assert len(first["papers"]) == 10 and len(second["papers"]) == 4
    assert not set(ids(first)) & set(ids(second))
    assert 'rel="next"' in client.get("/?limit=10").text


def test_paper_page_escapes_and_links(client: TestClient) -> None:
    html = client.get("/papers/2503.20001").text
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert 'href="https://arxiv.org/abs/2503.20001"' in html
    assert 'href="https://arxiv.org/pdf/2503.20001"' in html
    attn = client.get("/papers/2503.10001").text
    assert '<span class="math">O(n^2)</span>' in attn
    assert 'href="https://github.com/example/attn"' in attn
    # Versioned ids, arXiv URLs and old-style ids all resolve.
    assert client.get("/papers/2503.10001v2?format=json").json()["title"] == "Attention Is Still All You Need"
    assert client.get("/papers/hep-th/9901001?format=json").json()["id"] == "hep-th/9901001"


def test_similar_papers_load_after_the_page(client: TestClient) -> None:
    asked: list[str] = []

    def provider(engine: sa.Engine, paper: Paper, k: int) -> list[Paper]:
        asked.append(paper.paper_id)
        found = get_paper(engine, "2503.20002")
        return [found] if found else []

    app_state(client.app).similar_papers = provider
    page = client.get("/papers/2503.10001")
    assert 'hx-get="/papers/2503.10001/similar"' in page.text and not asked  # the page never waits for it
    fragment = client.get("/papers/2503.10001/similar").text
    assert "Similar papers" in fragment and "Sparse Retrieval Revisited" in fragment
    assert asked == ["2503.10001"]
    data = client.get("/papers/2503.10001?format=json").json()
    assert data["similar_url"] == "/api/papers/2503.10001/similar"
    # Without the feature the slot is not rendered at all.
    app_state(client.app).similar_papers = None
    assert "similar" not in client.get("/papers/2503.10001").text.split("<main", 1)[1].lower()
    assert client.get("/papers/2503.10001?format=json").json()["similar_url"] is None


def test_unknown_paper_and_bad_input_are_clear_4xx(client: TestClient) -> None:
    r = client.get("/papers/2501.99999?format=json")
    assert r.status_code == 404 and "2501.99999" in r.json()["error"]
    page = client.get("/papers/2501.99999")
    assert page.status_code == 404 and "Not found" in page.text
    assert page.headers["content-type"].startswith("text/html")
    bad_date = client.get("/?date=2025-02-30&format=json")
    assert bad_date.status_code == 400 and "bad date" in bad_date.json()["error"]
    too_many = client.get("/api/daily_papers?limit=5000")
    assert too_many.status_code == 422 and "limit" in too_many.json()["error"]
    both = client.get("/?date=2025-03-17&month=2025-03&format=json")
    assert both.status_code == 400 and "only one" in both.json()["error"]
    assert client.get("/categories/not%20a%20category").status_code == 422


def test_trending_uses_the_documented_formula(client: TestClient) -> None:
    data = client.get("/trending?format=json").json()
    as_of = data["as_of"]
    assert as_of.startswith("2025-03-21T00:00")  # end of the newest listing day
    top = data["papers"][0]
    # Attention: 40 upvotes, 87 h old -> 40/(87+2)^1.5 = 0.048; Sparse Retrieval: 12 upvotes, 62 h old
    # -> 12/(62+2)^1.5 = 0.023. The older paper leads because it has many more upvotes.
    assert top["id"] == "2503.10001"
    assert top["trending_score"] == pytest.approx(trending_score(40, 87.0), rel=1e-4)
    scores = [p["trending_score"] for p in data["papers"]]
    assert scores == sorted(scores, reverse=True)


def test_categories_page(client: TestClient) -> None:
    data = client.get("/categories?format=json").json()
    counts = {c["category"]: c["papers"] for c in data["categories"]}
    assert counts["cs.CL"] == 15 and counts["hep-th"] == 1
    listing = client.get("/categories/cs.IR?format=json").json()
    assert listing["period"]["key"] == THU.isoformat() and ids(listing) == ["2503.40001"]


def test_search_page_highlights_safely(client: TestClient) -> None:
    data = client.get("/search?q=diffusion+transformers&mode=bm25&format=json").json()
    assert data["results"] and data["results"][0]["id"] == "2503.20001"
    html = client.get("/search?q=diffusion&mode=bm25").text
    assert "<mark>Diffusion</mark>" in html
    assert "<script>alert(1)</script>" not in html
    garbage = client.get('/search?q=%22%27%3Cb%3E%20AND%20NEAR(%20*&mode=bm25')
    assert garbage.status_code == 200 and "<b>" not in garbage.text.split("<main", 1)[1]
    symbols = client.get("/api/search?q=%25%25%25+%3F%21")
    assert symbols.status_code == 400 and "nothing to search for" in symbols.json()["error"]
    assert client.get("/api/papers/search?q=***").status_code == 400
    page = client.get("/search?q=%3F%3F%3F")
    assert page.status_code == 400 and "nothing to search for" in page.text
    filtered = client.get(f"/api/search?q=retrieval&mode=bm25&category=cs.CL&date_from={THU}").json()
    assert [r["id"] for r in filtered["results"]] == ["2503.40001"]


def test_search_pagination(client: TestClient) -> None:
    first = client.get("/api/search?q=language+models&mode=bm25&limit=5").json()
    second = client.get("/api/search?q=language+models&mode=bm25&limit=5&page=2").json()
    assert first["has_more"] and len(first["results"]) == 5
    assert not {r["id"] for r in first["results"]} & {r["id"] for r in second["results"]}


def test_response_cache_serves_anonymous_pages_and_skips_cookies(settings: Settings) -> None:
    engine = open_database(settings.db_url)
    load_library(engine)
    app = create_app(settings, cache_seconds=60)
    with TestClient(app) as c:
        first = c.get("/papers/2503.20002?format=json")
        assert first.json()["title"] == "Sparse Retrieval Revisited"
        # Anonymous repeats are answered from the cache (same bytes, same ETag)...
        assert c.get("/papers/2503.20002?format=json").headers["etag"] == first.headers["etag"]
        assert len(app_state(app).response_cache) == 1
        # ...requests with a cookie (possibly signed in) neither use nor fill it.
        assert "etag" not in c.get("/papers/2503.20002?format=json", headers={"cookie": "x=1"}).headers
        upsert_papers(engine, [Paper(title="Sparse Retrieval Re-Revisited", arxiv_id="2503.20002", version=9,
                                     source="test")])
        # A write to the store retires every cached page at once.
        assert c.get("/papers/2503.20002?format=json").json()["title"] == "Sparse Retrieval Re-Revisited"
        # Errors are never cached.
        assert c.get("/papers/2599.00001").status_code == 404
        upsert_papers(engine, [Paper(title="Now Here", arxiv_id="2599.00001", source="test")])
        assert c.get("/papers/2599.00001").status_code == 200
    app_state(app).store_version.close()
    app_state(app).engine.dispose()
    engine.dispose()
    shared = app_state(app).response_cache.shared
    if shared is not None:
        shutil.rmtree(shared.folder, ignore_errors=True)
