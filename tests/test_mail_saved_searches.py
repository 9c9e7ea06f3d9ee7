"""Saved searches in digests rank the period's papers exactly as a bm25 search does, whether they go to
the in-memory BM25 index directly or through the search engine."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from paperscope.index.build import build_lexical
from paperscope.mail.digest import DigestPeriod, SavedSearchSections, due_periods
from paperscope.model import Paper
from paperscope.search import SearchEngine, SearchFilters, SearchResult
from paperscope.settings import Settings
from paperscope.store import upsert_papers
from paperscope.store.listings import latest_listing_day
from paperscope.store.subscriptions import DigestChoice, SavedSearch, Subscription
from paperscope.store.votes import set_hidden
from tests.mail_data import load_papers
from tests.support.mail_delivery import TUESDAY

# The backend matters here (tests/conftest.py): every store-backed test runs on SQLite and PostgreSQL.
pytestmark = pytest.mark.both_backends

SEARCHES = (SavedSearch("protein folding"), SavedSearch("advances", ("cs.LG", "quant-ph")),
            SavedSearch("advances"), SavedSearch("grasping", author="Author 3"), SavedSearch("no such word"))


class CountingSearch(SearchEngine):
    calls: list[str]

    def search(self, query: str, **kw: Any) -> SearchResult:
        self.calls.append(query)
        return super().search(query, **kw)


def _engine(engine: sa.Engine, settings: Settings) -> CountingSearch:
    found = CountingSearch(engine, settings)
    found.calls = []
    return found


def _subscriber() -> Subscription:
    return Subscription(id=1, email="r@example.com", frequency="daily",
                        choice=DigestChoice(searches=SEARCHES), per_section=5, status="active",
                        created_at=TUESDAY)


def _sections(provider: SavedSearchSections, period: DigestPeriod) -> dict[str, list[str]]:
    provider.prefetch([_subscriber()], period)
    return {c.key: [p.paper_id for p in c.papers] for c in provider.sections(_subscriber(), period, 20)}


def _bm25_search(search: SearchEngine, period: DigestPeriod) -> dict[str, list[str]]:
    out = {}
    for saved in SEARCHES:
        filters = SearchFilters(categories=saved.categories, date_from=period.first_day,
                                date_to=period.last_day, author=saved.author)
        out[f"search:{saved.query}"] = [h.paper_id for h in search.search(saved.query, mode="bm25", k=20,
                                                                           filters=filters).hits]
    return out


def test_saved_searches_use_the_bm25_index_and_rank_as_bm25_search_does(
        engine: sa.Engine, settings: Settings) -> None:
    day = TUESDAY.date() - timedelta(days=1)
    load_papers(engine, day, per_topic=30)
    # An older paper outside the period matches too: it must not appear.
    old = day - timedelta(days=30)
    upsert_papers(engine, [Paper(arxiv_id="2601.00001", version=1, title="Advances in protein folding",
                                 abstract="protein folding", categories=("q-bio.BM",), listed=old,
                                 published=old, source="jsonl")])
    build_lexical(engine, settings.index_dir)
    period = due_periods(TUESDAY, latest_listing_day(engine))[0]
    search = _engine(engine, settings)
    got = _sections(SavedSearchSections(engine, search), period)
    assert search.calls == [], "with a current BM25 index, saved searches go to it directly"
    want = _bm25_search(search, period)
    assert got == want and got['search:no such word'] == []
    assert len(got["search:advances"]) == 20 and "2601.00001" not in got["search:protein folding"]
    assert set(got["search:advances"][:5]) != set(got["search:protein folding"][:5])


def test_papers_newer_than_the_index_and_hidden_papers(engine: sa.Engine, settings: Settings) -> None:
    day = TUESDAY.date() - timedelta(days=1)

    def paper(n: int, repeats: int) -> Paper:  # more repeats, higher BM25: no ties
        return Paper(arxiv_id=f"2611.{n:05d}", version=1, title=f"Study {n}",
                     abstract="protein folding " * repeats + "and other matters " * 5,
                     categories=("q-bio.BM",),
                     listed=day, published=day, source="jsonl")

    upsert_papers(engine, [paper(n, n) for n in range(1, 9)])
    build_lexical(engine, settings.index_dir)
    upsert_papers(engine, [paper(99, 30)])
    period = due_periods(TUESDAY, latest_listing_day(engine))[0]
    search = _engine(engine, settings)
    got = _sections(SavedSearchSections(engine, search), period)
    # A paper ingested after `paperscope index` is found (through the engine, which merges the database's
    # full-text index; where it ranks depends on that index's scores).
    assert sorted(got["search:protein folding"]) == [f"2611.{n:05d}" for n in (*range(1, 9), 99)]
    assert search.calls, "papers newer than the index: the engine's search is used"

    build_lexical(engine, settings.index_dir)
    with engine.connect() as conn:
        rowid = conn.execute(sa.text("SELECT id FROM papers WHERE paper_id = '2611.00008'")).scalar_one()
    set_hidden(engine, rowid, True)
    search = _engine(engine, settings)
    again = _sections(SavedSearchSections(engine, search), period)
    assert search.calls == []
    assert again["search:protein folding"] == ["2611.00099", *(f"2611.{n:05d}" for n in range(7, 0, -1))]
    assert again == _bm25_search(search, period)
