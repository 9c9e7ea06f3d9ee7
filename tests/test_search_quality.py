"""Search quality on a SciFact subset, so that a change that breaks ranking quality fails the suite.

The subset: the first QUERIES test queries, every document judged for them, and DISTRACTORS other
documents drawn with a fixed seed; abstracts cut to their first WORDS words so that encoding the ~300
documents with the real bundled encoder stays cheap. Skipped when ../shared/data/scifact is absent.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from paperscope.embed import Encoder
from paperscope.index.build import build_index
from paperscope.search import SearchEngine
from paperscope.search.beir import BeirDataset, evaluate, load_beir, load_corpus
from paperscope.settings import Settings
from paperscope.store import open_database

SCIFACT = Path(__file__).resolve().parents[2] / "shared" / "data" / "scifact"
QUERIES = 60
DISTRACTORS = 240
WORDS = 80
HYBRID_FLOOR = 0.86

pytestmark = pytest.mark.slow


def subset(full: BeirDataset) -> BeirDataset:
    """The test split's first QUERIES queries over their judged documents plus seeded distractors."""
    queries = dict(list(full.queries.items())[:QUERIES])
    qrels = {q: full.qrels[q] for q in queries}
    judged = {doc for rel in qrels.values() for doc in rel}
    others = [d for d in full.corpus if d[0] not in judged]
    docs = [d for d in full.corpus if d[0] in judged] + random.Random(7).sample(others, DISTRACTORS)
    return BeirDataset(corpus=[(i, title, " ".join(text.split()[:WORDS])) for i, title, text in docs],
                       queries=queries, qrels=qrels)


@pytest.fixture(scope="module")
def scifact(tmp_path_factory: pytest.TempPathFactory,
            bundled_encoder: Encoder) -> Iterator[tuple[SearchEngine, BeirDataset]]:
    if not (SCIFACT / "corpus.jsonl").is_file():
        pytest.skip(f"SciFact is not at {SCIFACT} (../shared/data/scifact): quality floor not checked")
    dataset = subset(load_beir(SCIFACT, "test"))
    home = tmp_path_factory.mktemp("scifact")
    settings = Settings(home=home, database_url=f"sqlite:///{home / 'paperscope.db'}")
    engine = open_database(settings.db_url)
    load_corpus(engine, dataset)
    build_index(engine, settings.index_dir, bundled_encoder)
    yield SearchEngine(engine, settings, encoder=bundled_encoder), dataset
    engine.dispose()


def test_hybrid_ranks_above_its_floor_and_above_bm25(scifact: tuple[SearchEngine, BeirDataset]) -> None:
    """Measured on this subset (300 documents, 60 queries) with the bundled MiniLM and its profile:
    nDCG@10 bm25 0.8455, hybrid 0.8938. The floor, 0.86, leaves about 0.03 for harmless changes (ties
    ordered otherwise, another CPU's int8 rounding); losing more, or falling to bm25's level, is a
    quality regression. Costs ~13 CPU-seconds, nearly all of it encoding the documents."""
    search, dataset = scifact
    ndcg = {r.mode: r.ndcg10 for r in evaluate(search, dataset, ["bm25", "hybrid"])}
    assert ndcg["hybrid"] >= HYBRID_FLOOR, ndcg
    assert ndcg["hybrid"] > ndcg["bm25"], ndcg
