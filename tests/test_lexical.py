"""The in-memory BM25 index: ranking, stemming, replacement, persistence, and how search uses it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import sqlalchemy as sa

from paperscope.index.build import IndexLayout, build_lexical
from paperscope.index.lexical import LexicalDoc, LexicalIndex
from paperscope.model import Paper
from paperscope.search import SearchEngine
from paperscope.settings import Settings
from paperscope.store import get_papers_by_rowid, upsert_papers

DOCS = [
    LexicalDoc(1, "Graph neural networks for molecules", "Message passing over atoms.", ["Marie Curie"]),
    LexicalDoc(2, "A survey of language models", "Transformers; a graph appears once.", ["Alan Turing"]),
    LexicalDoc(3, "Protein folding with diffusion", "Diffusion models predict structure.", ["Graph Smith"]),
    LexicalDoc(4, "Robots that walk", "Reinforcement learning for legged robots.", ["Ada Lovelace"]),
]


def index() -> LexicalIndex:
    return LexicalIndex.empty().with_documents(DOCS, last_rowid=4)


def test_title_outranks_abstract_outranks_author() -> None:
    keys, scores = index().search("graph", 10)
    assert keys.tolist() == [1, 2, 3]
    assert scores[0] > scores[1] > scores[2] > 0


def test_stemmed_words_match_and_unrelated_papers_do_not() -> None:
    keys, _ = index().search("walking robot", 10)
    assert keys.tolist() == [4]
    assert index().search("zebra", 10)[0].size == 0
    # A query of stopwords only still gets an answer, as with the database's full-text search.
    assert index().search("a survey of", 10)[0].tolist() == [2]


def test_rarer_terms_weigh_more() -> None:
    # "diffusion" occurs in one paper, "models" in two: the rare term decides the ranking.
    keys, _ = index().search("diffusion models", 10)
    assert keys[0] == 3


def test_adding_a_paper_again_replaces_its_text() -> None:
    updated = index().with_documents([LexicalDoc(4, "Quantum walks", "On qubits.", [])], last_rowid=4)
    assert len(updated) == 4
    assert updated.search("robots", 10)[0].size == 0
    assert updated.search("qubits", 10)[0].tolist() == [4]
    assert updated.search("graph", 10)[0].tolist() == [1, 2, 3]  # the others are untouched


def test_incremental_adds_rank_like_one_build() -> None:
    whole = index()
    step = LexicalIndex.empty().with_documents(DOCS[:2], 2).with_documents(DOCS[2:], 4)
    for query in ("graph", "diffusion models", "robots learning"):
        a, sa_ = whole.search(query, 10)
        b, sb = step.search(query, 10)
        assert a.tolist() == b.tolist()
        assert np.allclose(sa_, sb)


def test_save_and_open_round_trip(tmp_path: Path) -> None:
    idx = index()
    idx.save(tmp_path / "lexical")
    idx.save(tmp_path / "lexical")  # overwriting an existing index works too
    opened = LexicalIndex.open(tmp_path / "lexical")
    assert opened is not None and opened.last_rowid == 4
    assert opened.search("graph", 2)[0].tolist() == idx.search("graph", 2)[0].tolist()
    assert LexicalIndex.open(tmp_path / "missing") is None


def _paper(n: int, title: str, abstract: str) -> Paper:
    return Paper(arxiv_id=f"2507.{n:05d}", version=1, title=title, abstract=abstract, authors=("A. Author",),
                 categories=("cs.LG",), source="test")


def test_bm25_mode_finds_papers_added_after_the_index_was_built(engine: sa.Engine,
                                                                settings: Settings) -> None:
    upsert_papers(engine, [_paper(1, "Sparse attention kernels", "Fast attention on GPUs."),
                           _paper(2, "Protein design", "Proteins designed by diffusion.")])
    assert build_lexical(engine, settings.index_dir) == 2
    se = SearchEngine(engine, settings)
    assert se.lexical is not None and len(se.lexical) == 2
    upsert_papers(engine, [_paper(3, "Attention is sparse", "Sparse attention again, for language.")])
    hits = se.search("sparse attention", mode="bm25", k=5).hits
    assert {h.paper_id for h in hits} == {"2507.00001", "2507.00003"}
    assert build_lexical(engine, settings.index_dir) == 1  # only the new paper is read
    assert build_lexical(engine, settings.index_dir) == 0


def test_bm25_results_agree_with_the_database_full_text_index(engine: sa.Engine, settings: Settings) -> None:
    papers = [_paper(i, f"{topic} study {i}", f"An abstract about {topic}.")
              for i, topic in enumerate(["galaxy", "neuron", "galaxy cluster", "enzyme", "neuron spike"])]
    upsert_papers(engine, papers)
    plain = SearchEngine(engine, settings)
    before = [h.paper_id for h in plain.search("galaxy", mode="bm25", k=5).hits]
    build_lexical(engine, settings.index_dir)
    assert IndexLayout(settings.index_dir).lexical.is_dir()
    after = [h.paper_id for h in SearchEngine(engine, settings).search("galaxy", mode="bm25", k=5).hits]
    assert set(before) == set(after) and len(after) == 2
    rows = get_papers_by_rowid(engine, [1])
    assert rows and rows[0].paper_id == "2507.00000"


def test_index_lexical_only_makes_bm25_fast_path_available_without_a_model(engine: sa.Engine,
                                                                            settings: Settings) -> None:
    from typer.testing import CliRunner

    from paperscope.cli import app as cli_app

    upsert_papers(engine, [_paper(1, "Sparse attention kernels", "Fast attention on GPUs.")])
    args = ["--home", str(settings.home), "--database-url", settings.db_url, "index", "--lexical-only"]
    result = CliRunner().invoke(cli_app, args)
    assert result.exit_code == 0, result.output
    assert "1 papers added" in result.output
    assert not (IndexLayout(settings.index_dir).manifest).exists()  # no vectors were built
    assert SearchEngine(engine, settings).search("attention", mode="bm25").hits[0].paper_id == "2507.00001"
    again = CliRunner().invoke(cli_app, args)
    assert again.exit_code == 0 and "added" not in again.output


def test_allowed_papers_restrict_the_ranking_without_changing_scores() -> None:
    idx = index()
    keys, scores = idx.search("graph", 10, allowed=np.asarray([2, 3, 4]))
    assert keys.tolist() == [2, 3]
    all_keys, all_scores = idx.search("graph", 10)
    assert np.allclose(scores, all_scores[1:])
    assert idx.search("graph", 10, allowed=np.asarray([], dtype=np.int64))[0].size == 0


def test_papers_tied_at_the_cut_are_taken_by_row_id_at_every_depth() -> None:
    same = [LexicalDoc(key, "Identical title about sparse attention", "Same abstract.", []) for key in
            (40, 7, 23, 11, 35, 2, 18, 29)]
    idx = LexicalIndex.empty().with_documents([*DOCS, *same], last_rowid=40)
    everything, _ = idx.search("sparse attention", 100)
    assert sorted(everything.tolist()) == everything.tolist() == [2, 7, 11, 18, 23, 29, 35, 40]
    for k in range(1, 9):
        assert idx.search("sparse attention", k)[0].tolist() == everything[:k].tolist()
