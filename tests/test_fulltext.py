"""Lexical search on both backends: ranking by field, OR semantics, safe odd input, filters, sync."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa

from paperscope.model import Paper
from paperscope.store import count_papers, get_paper, upsert_papers
from paperscope.store.fulltext import (
    TextFilters,
    count_filtered,
    filter_rowids,
    matched_terms,
    query_terms,
    search_fulltext,
)
from paperscope.store.schema import papers

# The backend matters here (tests/conftest.py): every store-backed test runs on SQLite and PostgreSQL.
pytestmark = pytest.mark.both_backends


def paper(n: int, title: str, abstract: str = "", authors: tuple[str, ...] = ("Ann Author",),
          cats: tuple[str, ...] = ("cs.CL",), listed: date = date(2025, 5, 1)) -> Paper:
    return Paper(arxiv_id=f"2505.{n:05d}", version=1, title=title, abstract=abstract, authors=authors,
                 categories=cats, listed=listed, source="test")


CORPUS = [
    paper(1, "Graph neural networks for molecules", "We study chemistry with message passing.",
          authors=("Marie Curie",), cats=("cs.LG", "q-bio.BM"), listed=date(2025, 4, 1)),
    paper(2, "A survey of language models", "Transformers and graph methods are compared briefly.",
          authors=("Jürgen Müller", "Alan Turing"), cats=("cs.CL",), listed=date(2025, 5, 1)),
    paper(3, "Protein folding with diffusion", "Diffusion models predict protein structure.",
          authors=("Graph Smith",), cats=("q-bio.BM",), listed=date(2025, 6, 1)),
    paper(4, "Reinforcement learning for robots", "Robots learn to walk.",
          authors=("Ada Lovelace",), cats=("cs.RO", "cs.LG"), listed=date(2025, 7, 1)),
]


def ids(engine: sa.Engine, hits: list[tuple[int, float]]) -> list[str]:
    with engine.connect() as conn:
        by_row = dict(conn.execute(sa.select(papers.c.id, papers.c.paper_id)).all())
    return [by_row[r] for r, _ in hits]


@pytest.fixture
def loaded(engine: sa.Engine) -> sa.Engine:
    upsert_papers(engine, CORPUS)
    return engine


def test_title_outranks_abstract_outranks_authors(loaded: sa.Engine) -> None:
    hits = search_fulltext(loaded, "graph")
    assert ids(loaded, hits) == ["2505.00001", "2505.00002", "2505.00003"]
    assert [s for _, s in hits] == sorted((s for _, s in hits), reverse=True)


def test_natural_language_query_uses_or_and_stemming(loaded: sa.Engine) -> None:
    # No paper has all these words; OR semantics still finds the relevant ones, and "robot" finds
    # "robots" through stemming.
    got = ids(loaded, search_fulltext(loaded, "How do robot diffusion models work?"))
    assert set(got) == {"2505.00002", "2505.00003", "2505.00004"}


GRAPH = {"2505.00001", "2505.00002", "2505.00003"}


# Each odd input is searched as the plain words in it (operators, quotes, punctuation are no syntax): at
# least and at most these papers. "a" is a stopword on PostgreSQL only, so it may or may not find paper 2.
@pytest.mark.parametrize(("garbage", "at_least", "at_most"), [
    ('"unbalanced', set(), set()), ("NEAR(a b", set(), {"2505.00002"}), ("title:graph AND", GRAPH, GRAPH),
    ("***", set(), set()), ("", set(), set()), ("-- ; DROP TABLE papers", set(), set()), ("(", set(), set()),
    ("a OR", set(), {"2505.00002"}), ("^graph", GRAPH, GRAPH), ("\\x00'", set(), set())])
def test_garbage_queries_never_error(loaded: sa.Engine, garbage: str, at_least: set[str],
                                     at_most: set[str]) -> None:
    found = set(ids(loaded, search_fulltext(loaded, garbage)))  # must not raise
    assert at_least <= found <= at_most
    assert get_paper(loaded, "2505.00001") is not None
    assert count_papers(loaded) == len(CORPUS)  # nothing was dropped or changed


def test_fts_syntax_is_matched_as_words(loaded: sa.Engine) -> None:
    assert ids(loaded, search_fulltext(loaded, 'title:"protein" AND'))[0] == "2505.00003"


def test_filters_category_dates_author(loaded: sa.Engine) -> None:
    q = "graph robots diffusion language"
    assert set(ids(loaded, search_fulltext(loaded, q, filters=TextFilters(categories=("cs.LG",))))) == {
        "2505.00001", "2505.00004"}
    got = ids(loaded, search_fulltext(loaded, q, filters=TextFilters(date_from=date(2025, 5, 1),
                                                                   date_to=date(2025, 6, 1))))
    assert set(got) == {"2505.00002", "2505.00003"}
    # Author filter: case-insensitive substring, non-ASCII names included.
    assert ids(loaded, search_fulltext(loaded, q, filters=TextFilters(author="müller"))) == ["2505.00002"]
    assert ids(loaded, search_fulltext(loaded, q, filters=TextFilters(author="TURING"))) == ["2505.00002"]
    assert search_fulltext(loaded, q, filters=TextFilters(author="100%_")) == []


def test_author_names_are_searchable_with_accents(loaded: sa.Engine) -> None:
    assert ids(loaded, search_fulltext(loaded, "Müller")) == ["2505.00002"]


def test_index_follows_updates_and_deletes(loaded: sa.Engine) -> None:
    newer = Paper(arxiv_id="2505.00004", version=2, title="Quantum error correction codes",
                  abstract="Surface codes.", authors=("Ada Lovelace",), source="test")
    upsert_papers(loaded, [newer])
    assert ids(loaded, search_fulltext(loaded, "quantum")) == ["2505.00004"]
    assert search_fulltext(loaded, "robots walk") == []
    with loaded.begin() as conn:
        conn.execute(papers.delete().where(papers.c.paper_id == "2505.00004"))
    assert search_fulltext(loaded, "quantum") == []


def test_filter_rowids_and_count(loaded: sa.Engine) -> None:
    with loaded.connect() as conn:
        rows = dict(conn.execute(sa.select(papers.c.paper_id, papers.c.id)).all())
    every = list(rows.values())
    f = TextFilters(categories=("q-bio.BM",))
    assert filter_rowids(loaded, every, f) == {rows["2505.00001"], rows["2505.00003"]}
    assert filter_rowids(loaded, every, None) == set(every)
    assert count_filtered(loaded, f) == 2


def test_query_terms_and_matched_terms() -> None:
    assert query_terms("What is the GRAPH of graph-networks?") == ["graph", "networks"]
    assert query_terms("the of") == ["the", "of"]
    assert matched_terms("graph networks robots", ["Graph neural network"]) == ("graph", "networks")
