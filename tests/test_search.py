"""End-to-end search with the real bundled encoder on a small corpus, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from datetime import date

import pytest
import sqlalchemy as sa

from paperscope.embed import Encoded, Encoder
from paperscope.index.build import build_index
from paperscope.model import Paper
from paperscope.search import MODES, SearchEngine, SearchFilters, search
from paperscope.settings import Settings
from paperscope.store import get_papers_by_rowid, open_database, upsert_papers
from tests.pg import PgServer
from tests.search_corpus import corpus


class RememberingEncoder:
    """The real bundled encoder, remembering what it encoded: every test indexes the same corpus on two
    backends, and encoding it again would only cost time (the vectors are identical)."""

    def __init__(self, inner: Encoder) -> None:
        self.inner, self.name, self.dim = inner, inner.name, inner.dim
        self._docs: dict[str, Encoded] = {}
        self._queries: dict[str, Encoded] = {}

    def _cached(self, memo: dict[str, Encoded], texts: Sequence[str],
                encode: Callable[[list[str]], list[Encoded]]) -> list[Encoded]:
        missing = [t for t in dict.fromkeys(texts) if t not in memo]
        if missing:
            memo.update(zip(missing, encode(missing), strict=True))
        return [memo[t] for t in texts]

    def encode_documents(self, texts: Sequence[str], batch_size: int = 32) -> list[Encoded]:
        return self._cached(self._docs, texts, self.inner.encode_documents)

    def encode_queries(self, texts: Sequence[str], batch_size: int = 32) -> list[Encoded]:
        return self._cached(self._queries, texts, self.inner.encode_queries)


@pytest.fixture(scope="module")
def encoder(bundled_encoder: Encoder) -> Encoder:
    return RememberingEncoder(bundled_encoder)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def indexed(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
            encoder: Encoder) -> Iterator[SearchEngine]:
    """The corpus stored and indexed once per backend; tests that change data use their own store."""
    home = tmp_path_factory.mktemp("search")
    server: PgServer | None = None
    if request.param == "sqlite":
        url = f"sqlite:///{home / 'paperscope.db'}"
    else:
        server = request.getfixturevalue("pg_server")
        url = server.create_database(template=request.getfixturevalue("pg_template"))
    settings = Settings(home=home, database_url=url)
    engine = open_database(url)
    upsert_papers(engine, corpus())
    build_index(engine, settings.index_dir, encoder)
    yield SearchEngine(engine, settings, encoder=encoder)
    engine.dispose()
    if server is not None:
        server.drop_database(url)


def titles(se: SearchEngine, rowids: list[int]) -> list[str]:
    return [p.title for p in get_papers_by_rowid(se.engine, rowids)]


def test_every_mode_finds_the_topic(indexed: SearchEngine) -> None:
    for mode in MODES:
        result = indexed.search("gravitational waves from merging black holes", mode=mode, k=3)
        assert result.mode == mode and not result.notes
        top = titles(indexed, [result.hits[0].rowid])
        assert top == ["Black hole mergers observed by gravitational waves"]
        assert result.hits[0].paper_id == "2503.00011"


def test_vector_modes_match_meaning_not_just_words(indexed: SearchEngine) -> None:
    # No paper shares a content word with this query; the vector modes still find the topic.
    query = "automobile that steers itself"
    assert indexed.search(query, mode="bm25").hits == []
    for mode in ("dense", "late", "hybrid"):
        top = indexed.search(query, mode=mode, k=1).hits[0]
        assert titles(indexed, [top.rowid]) == ["Autonomous driving motion planning"], mode


def test_one_thread_and_parallel_search_rank_identically(indexed: SearchEngine) -> None:
    serial = SearchEngine(indexed.engine, indexed.settings, encoder=indexed.encoder,
                          config=replace(indexed.config, threads=1))
    parallel = SearchEngine(indexed.engine, indexed.settings, encoder=indexed.encoder,
                            config=replace(indexed.config, threads=2))
    for mode in MODES:
        one = serial.search("neural networks for language", mode=mode, k=20)
        two = parallel.search("neural networks for language", mode=mode, k=20)
        assert one.hits == two.hits and one.total == two.total, mode


def test_score_fusion_is_a_working_alternative(indexed: SearchEngine) -> None:
    zscore = SearchEngine(indexed.engine, indexed.settings, encoder=indexed.encoder,
                          config=replace(indexed.config, fusion="zscore"))
    for query, title in (("gravitational waves from merging black holes",
                          "Black hole mergers observed by gravitational waves"),
                         ("automobile that steers itself", "Autonomous driving motion planning")):
        top = zscore.search(query, mode="hybrid", k=5).hits
        assert titles(zscore, [top[0].rowid]) == [title]
        assert [h.score for h in top] == sorted((h.score for h in top), reverse=True)
        assert set(top[0].components) <= {"bm25", "dense", "late"}


def test_hybrid_carries_component_scores_and_matched_terms(indexed: SearchEngine) -> None:
    hit = indexed.search("prime numbers", mode="hybrid", k=1).hits[0]
    assert set(hit.components) == {"bm25", "dense", "late"}
    assert hit.matched_terms == ("prime", "numbers")


@pytest.mark.parametrize("mode", MODES)
def test_filters_apply_in_every_mode(indexed: SearchEngine, mode: str) -> None:
    by_cat = indexed.search("robots and galaxies", mode=mode, k=10,  # type: ignore[arg-type]
                            filters=SearchFilters(categories=("cs.RO",)))
    papers = get_papers_by_rowid(indexed.engine, [h.rowid for h in by_cat.hits])
    assert papers and all(p.categories == ("cs.RO",) for p in papers)

    window = SearchFilters(date_from=date(2025, 4, 1), date_to=date(2025, 4, 30), author="turing")
    hits = indexed.search("robot galaxy protein translation", mode=mode,  # type: ignore[arg-type]
                          k=20, filters=window).hits
    papers = get_papers_by_rowid(indexed.engine, [h.rowid for h in hits])
    assert papers and all(p.listed == date(2025, 4, 10) and p.authors == ("Alan Turing",) for p in papers)


def test_paging_is_a_slice_of_the_ranking(indexed: SearchEngine) -> None:
    full = [h.rowid for h in indexed.search("climate and weather", mode="hybrid", k=12).hits]
    page2 = [h.rowid for h in indexed.search("climate and weather", mode="hybrid", k=4, offset=4).hits]
    assert page2 == full[4:8]


def test_odd_queries_never_error(indexed: SearchEngine) -> None:
    for query in ['"unbalanced', "NEAR(", "***", "", "   ", "x" * 5000, "title:graph OR", "\x00;--"]:
        for mode in MODES:
            result = indexed.search(query, mode=mode, k=5)
            assert result.mode == mode


def test_threshold_says_when_nothing_is_relevant(indexed: SearchEngine) -> None:
    nonsense = indexed.search("recipe for sourdough bread with rye flour", mode="hybrid", k=5, threshold=0.1)
    assert nonsense.no_good_answer and nonsense.hits == []
    good = indexed.search("protein folding structure prediction", mode="hybrid", k=5, threshold=0.1)
    assert not good.no_good_answer
    assert titles(indexed, [good.hits[0].rowid]) == ["Protein structure prediction"]
    assert len(good.hits) < 5  # unrelated papers were cut
    late = indexed.search("recipe for sourdough bread with rye flour", mode="late", k=5, threshold=0.1)
    assert late.no_good_answer


def test_without_vector_index_modes_fall_back_to_bm25(engine: sa.Engine, settings: Settings) -> None:
    upsert_papers(engine, corpus())
    result = search(engine, settings, "prime numbers", mode="hybrid", k=3)
    assert result.mode == "bm25" and "fell back to bm25" in result.notes[0]
    assert result.hits[0].paper_id == "2503.00029"


def test_engine_sees_papers_indexed_after_it_opened(engine: sa.Engine, settings: Settings,
                                                     encoder: Encoder) -> None:
    upsert_papers(engine, corpus())
    build_index(engine, settings.index_dir, encoder)
    se = SearchEngine(engine, settings, encoder=encoder)
    assert se.search("quantum teleportation", mode="dense", k=1).hits[0].paper_id != "2599.00001"
    upsert_papers(engine, [Paper(arxiv_id="2599.00001", title="Quantum teleportation of qubits",
                                 abstract="Entangled photons carry a quantum state.", source="test")])
    build_index(engine, settings.index_dir, encoder)
    assert se.search("quantum teleportation", mode="dense", k=1).hits[0].paper_id == "2599.00001"


def test_hidden_papers_leave_search_results(indexed: SearchEngine) -> None:
    from paperscope.store.votes import set_hidden

    query = "gravitational waves from merging black holes"
    for mode in MODES:
        assert indexed.search(query, mode=mode, k=3).hits[0].paper_id == "2503.00011"
    rowid = indexed.search(query, mode="bm25", k=1).hits[0].rowid
    set_hidden(indexed.engine, rowid, True)
    for mode in MODES:
        assert "2503.00011" not in [h.paper_id for h in indexed.search(query, mode=mode, k=10).hits]
    set_hidden(indexed.engine, rowid, False)
    assert indexed.search(query, mode="hybrid", k=1).hits[0].paper_id == "2503.00011"


def test_late_mode_looks_deeper_as_the_index_grows(indexed: SearchEngine) -> None:
    # Candidate depths are set for an index of `late_reference_papers`. With a reference far below this
    # corpus, the grown depth covers every paper, so late mode returns exactly the brute-force MaxSim
    # top 10; with growth off, the same shallow depth misses some of it.
    shallow = replace(indexed.config, late_candidates=3, late_depth_growth=0.0)
    grown = replace(shallow, late_reference_papers=3, late_depth_growth=1.0)
    engines = {name: SearchEngine(indexed.engine, indexed.settings, encoder=indexed.encoder, config=config)
               for name, config in (("shallow", shallow), ("grown", grown))}
    idx = indexed.retriever.indexes
    assert idx is not None
    everyone = idx.tokens.keys()
    missed = 0
    for query in ("neural networks for language", "protein folding", "galaxy formation",
                  "graph algorithms", "climate models of ocean heat"):
        exact = indexed.retriever.late(indexed.encode_query(query).tokens, everyone, 10).ids
        assert [h.rowid for h in engines["grown"].search(query, mode="late", k=10).hits] == exact
        missed += [h.rowid for h in engines["shallow"].search(query, mode="late", k=10).hits] != exact
    assert missed > 0
