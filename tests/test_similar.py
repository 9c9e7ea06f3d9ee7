"""Similar papers end to end (real encoder, real indexes, SQLite; search on both backends is
test_search): the API, the CLI, the paper page, the cache and its refresh, sets of papers and the diverse
option."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from paperscope.cli import app as cli_app
from paperscope.embed import Encoder
from paperscope.feed.similar import SimilarPapers, more_like_this_terms
from paperscope.index.build import build_index
from paperscope.model import Paper
from paperscope.search import SearchEngine
from paperscope.search.dpp import intra_list_similarity, pooled_vectors
from paperscope.settings import Settings
from paperscope.store import get_paper, upsert_papers
from paperscope.web.app import create_app
from paperscope.web.app_state import app_state
from tests.support.encoders import MemoEncoder
from tests.support.topic_corpus import corpus


def topic_of(se: SearchEngine, paper_id: str) -> str:
    paper = get_paper(se.engine, paper_id)
    assert paper is not None
    return paper.categories[0]


@pytest.fixture(scope="module")
def encoder(bundled_encoder: Encoder) -> Encoder:
    return MemoEncoder(bundled_encoder)


@pytest.fixture
def indexed(engine: sa.Engine, settings: Settings, encoder: Encoder) -> SearchEngine:
    upsert_papers(engine, corpus())
    build_index(engine, settings.index_dir, encoder)
    return SearchEngine(engine, settings, encoder=encoder)


def seed(se: SearchEngine, paper_id: str) -> Paper:
    paper = get_paper(se.engine, paper_id)
    assert paper is not None
    return paper


def test_neighbours_come_from_the_same_topic_and_exclude_the_paper(indexed: SearchEngine) -> None:
    service = SimilarPapers(indexed.retriever)
    for paper_id in ("2504.01001", "2504.02001", "2504.03002", "2504.04003"):
        result = service.similar([seed(indexed, paper_id)], k=3)
        ids = [h.paper_id for h in result.hits]
        assert paper_id not in ids
        assert len(ids) == 3
        topic = topic_of(indexed, paper_id)
        # Each topic has three other papers; at least the two closest are found first.
        assert [topic_of(indexed, i) for i in ids[:2]] == [topic] * 2, (paper_id, ids)
        # Both signals contributed to the top result.
        assert {"late_rank", "lexical_rank"} <= set(result.hits[0].components)


def test_cached_until_the_index_grows(indexed: SearchEngine, engine: sa.Engine, settings: Settings,
                                      encoder: Encoder) -> None:
    service = SimilarPapers(indexed.retriever)
    paper = seed(indexed, "2504.01001")
    first = service.similar([paper], k=5)
    assert not first.cached
    again = service.similar([paper], k=5)
    assert again.cached and [h.rowid for h in again.hits] == [h.rowid for h in first.hits]
    # A new, very close paper arrives and is indexed: the cached list is recomputed and shows it first.
    upsert_papers(engine, [Paper(arxiv_id="2505.09999", version=1, source="test", categories=("q-bio.BM",),
                                 title="Protein structure prediction with deep neural networks",
                                 abstract="Amino acid sequences are folded into 3D protein shapes.")])
    build_index(engine, settings.index_dir, encoder)
    fresh = service.similar([paper], k=5)
    assert not fresh.cached
    assert fresh.hits[0].paper_id == "2505.09999"


def test_similar_to_a_set_covers_every_paper_in_it(indexed: SearchEngine) -> None:
    service = SimilarPapers(indexed.retriever)
    seeds = [seed(indexed, "2504.01001"), seed(indexed, "2504.04001")]  # proteins + robots
    result = service.similar(seeds, k=6)
    ids = [h.paper_id for h in result.hits]
    assert not {"2504.01001", "2504.04001"} & set(ids)
    topics = [topic_of(indexed, i) for i in ids]
    assert topics.count("q-bio.BM") >= 2 and topics.count("cs.RO") >= 2


def test_diverse_option_makes_the_list_less_redundant(indexed: SearchEngine) -> None:
    service = SimilarPapers(indexed.retriever)
    seeds = [seed(indexed, "2504.03004")]  # monetary policy: neighbours span economics and more
    idx = indexed.indexes
    assert idx is not None

    def ils(rowids: list[int]) -> float:
        vectors = pooled_vectors(idx.pooled, rowids)
        return intra_list_similarity(np.stack([vectors[r] for r in rowids]))

    plain = service.similar(seeds, k=6)
    diverse = service.similar(seeds, k=6, diverse=True, theta=0.2)
    assert diverse.diverse and diverse.cached  # re-ranks the cached list, no new retrieval
    assert sorted(h.rowid for h in diverse.hits) != sorted(h.rowid for h in plain.hits) or \
        [h.rowid for h in diverse.hits] != [h.rowid for h in plain.hits]
    assert ils([h.rowid for h in diverse.hits]) < ils([h.rowid for h in plain.hits])
    same = service.similar(seeds, k=6, diverse=True, theta=1.0)
    assert [h.rowid for h in same.hits] == [h.rowid for h in plain.hits]


def test_without_an_index_similar_papers_use_words(engine: sa.Engine, settings: Settings) -> None:
    upsert_papers(engine, corpus())
    search = SearchEngine(engine, settings)
    service = SimilarPapers(search.retriever)
    result = service.similar([get_paper(engine, "2504.02001")], k=2)  # type: ignore[list-item]
    assert result.notes and "index" in result.notes[0]
    assert result.hits and topic_of(search, result.hits[0].paper_id) == "astro-ph.GA"


def test_more_like_this_terms_prefer_title_words() -> None:
    paper = Paper(title="Graph neural networks for molecules", abstract="We propose a method. The method "
                  "uses graph networks on molecules and atoms, with 3 results.", source="test")
    terms = more_like_this_terms(paper, 4)
    assert terms[:2] == ["graph", "networks"] or set(terms[:3]) >= {"graph", "networks", "molecules"}
    assert "method" not in terms and "we" not in terms and "3" not in terms


@pytest.fixture
def client(indexed: SearchEngine, settings: Settings) -> Iterator[TestClient]:
    app = create_app(settings, cache_seconds=0)
    with TestClient(app) as c:
        yield c
    app_state(app).engine.dispose()


def test_api_page_and_paper_page(client: TestClient) -> None:
    data = client.get("/api/papers/2504.02001/similar?limit=3").json()
    assert data["seeds"] == ["2504.02001"]
    assert len(data["papers"]) == 3 and all(p["id"].startswith("2504.02") for p in data["papers"])
    assert client.get("/api/papers/2504.02001/similar?limit=3").json()["cached"] is True
    diverse = client.get("/api/papers/2504.02001/similar?limit=3&diverse=true&theta=0.3").json()
    assert diverse["diverse"] is True and diverse["theta"] == 0.3
    assert client.get("/api/papers/2504.02001/similar?theta=2").status_code == 422
    assert client.get("/api/papers/9999.99999/similar").status_code == 404
    # The Hugging Face paper route still answers for the paper itself.
    assert client.get("/api/papers/2504.02001").status_code == 200
    group = client.get("/api/similar?ids=2504.01001,2504.04001&limit=4").json()
    assert len(group["papers"]) == 4 and group["seeds"] == ["2504.01001", "2504.04001"]
    assert client.get("/api/similar?ids=").status_code in (400, 422)
    # The paper page loads its "similar papers" block separately (htmx) from the fragment route.
    page = client.get("/papers/2504.02001").text
    assert 'hx-get="/papers/2504.02001/similar"' in page
    fragment = client.get("/papers/2504.02001/similar").text
    assert data["papers"][0]["title"] in fragment
    html = client.get("/similar?ids=2504.01001,2504.04001").text
    assert "Similar to 2 papers" in html and group["papers"][0]["title"] in html


def test_cli(indexed: SearchEngine, settings: Settings) -> None:
    runner = CliRunner()
    args = ["--home", str(settings.home), "--database-url", settings.db_url]
    result = runner.invoke(cli_app, [*args, "similar", "2504.04002", "-k", "2", "--json"])
    assert result.exit_code == 0, result.output
    import json

    data = json.loads(result.stdout)
    assert len(data["papers"]) == 2 and all(p["paper_id"].startswith("2504.04") for p in data["papers"])
    missing = runner.invoke(cli_app, [*args, "similar", "2504.99999"])
    assert missing.exit_code == 2


def test_search_api_diverse_option_spreads_the_results(client: TestClient, indexed: SearchEngine) -> None:
    idx = indexed.indexes
    assert idx is not None
    query = "protein folding structure prediction and galaxies"

    def ids_and_ils(url: str) -> tuple[list[str], float]:
        body = client.get(url).json()
        ids = [r["id"] for r in body["results"]]
        rowids = [p.rowid for p in (get_paper(indexed.engine, i) for i in ids) if p and p.rowid]
        vectors = pooled_vectors(idx.pooled, rowids)
        return ids, intra_list_similarity(np.stack([vectors[r] for r in rowids]))

    plain_ids, plain_ils = ids_and_ils(f"/api/search?q={query}&mode=hybrid&limit=4")
    div_ids, div_ils = ids_and_ils(f"/api/search?q={query}&mode=hybrid&limit=4&diverse=true&theta=0.1")
    assert div_ils < plain_ils and div_ids != plain_ids
    same_ids, _ = ids_and_ils(f"/api/search?q={query}&mode=hybrid&limit=4&diverse=true&theta=1")
    assert same_ids == plain_ids
    assert client.get(f"/api/search?q={query}&diverse=true&theta=1.5").status_code == 422
    page = client.get(f"/search?q={query}&diverse=true").text
    assert 'name="diverse" value="true" checked' in page


def test_search_relevance_threshold_on_the_page_and_the_api(client: TestClient,
                                                            indexed: SearchEngine) -> None:
    nonsense = "recipe for sourdough bread with rye flour"
    plain = client.get(f"/api/search?q={nonsense}").json()
    assert plain["results"] and not plain["no_good_answer"]  # without a threshold: noise
    strict = client.get(f"/api/search?q={nonsense}&threshold=0.1").json()
    assert strict["no_good_answer"] and strict["results"] == [] and strict["threshold"] == 0.1
    page = client.get(f"/search?q={nonsense}&threshold=0.02").text
    assert "well enough" in page and 'name="threshold" value="0.02" checked' in page
    assert 'name="threshold" value="0.02" >' in client.get(f"/search?q={nonsense}").text  # the box's default
    good = client.get("/api/search?q=protein folding structure prediction&threshold=0.1").json()
    assert not good["no_good_answer"] and good["results"][0]["categories"][0] == "q-bio.BM"
    assert client.get(f"/api/search?q={nonsense}&threshold=2").status_code == 422
