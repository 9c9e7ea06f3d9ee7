"""`paperscope index`: the BM25 index, then embeddings into the store, then the vector indexes from the store.

Three steps, each resumable on its own:
  1. `build_lexical` brings the BM25 index up to date with the papers table (seconds, no model);
  2. `index/embedder.py` encodes papers that have no stored embedding for the current model and writes
     them to the store, a transaction per batch (a kill loses nothing and doubles nothing);
  3. `index/sync.py` brings the index files up to date from the store (no model).
A rebuild repeats only step 3 from scratch: the encoder's output is data, and every file under
`settings.index_dir` is a cache of it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from paperscope.embed import Encoder
from paperscope.index.embedder import Embedder, identity_of, resolve_model
from paperscope.index.indexset import MANIFEST, IndexLayout, IndexSet, IndexSpec, Manifest
from paperscope.index.lexical import LexicalDoc, LexicalIndex
from paperscope.index.sync import IndexSync
from paperscope.store import count_papers, iter_papers
from paperscope.store.embeddings import count_unembedded
from paperscope.store.indexing import count_papers_after

__all__ = ["MANIFEST", "READ_BATCH", "BuildReport", "IndexLayout", "IndexSet", "IndexSpec", "Manifest",
           "build_index", "build_lexical", "pending_papers"]

# How many papers to hand the encoder at once: large enough that sorting by length saves padding.
READ_BATCH = 256


@dataclass
class BuildReport:
    """What one `build_index` run did."""

    added: int = 0
    total: int = 0
    seconds: float = 0.0
    encode_seconds: float = 0.0
    resumed_from: int = 0
    lexical_added: int = 0
    indexed: int = 0
    rebuilt: bool = False
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.added / self.seconds if self.seconds > 0 else 0.0


def pending_papers(engine: sa.Engine, root: Path, encoder: Encoder | None = None) -> int:
    """How many papers the vector index under `root` lacks: without an `encoder`, papers above what the
    index holds; with one, papers with no stored embedding for it."""
    if encoder is not None:
        from paperscope.index.embedder import current_model

        model = current_model(engine, identity_of(encoder))
        return count_papers(engine) if model is None else count_unembedded(engine, model.id)
    manifest = Manifest.read(IndexLayout(root).manifest)
    return count_papers(engine) - (manifest.count if manifest is not None else 0)


def build_lexical(engine: sa.Engine, root: Path) -> int:
    """Bring the BM25 index under `root` up to date with the store; returns how many papers it added.

    Cheap next to encoding (seconds for the whole 74.7k snapshot), so it always covers every paper.
    """
    layout = IndexLayout(root)
    current = LexicalIndex.open(layout.lexical) or LexicalIndex.empty()
    seen = {"papers": 0, "last": current.last_rowid}

    def stream() -> Iterator[LexicalDoc]:
        # Streamed, not listed: each batch's texts are dropped once analysed (a first load holds
        # 74.7k abstracts otherwise, beside the postings being built).
        for batch in iter_papers(engine, after_rowid=current.last_rowid, batch_size=5000):
            for p in batch:
                if p.rowid is not None:
                    seen["papers"] += 1
                    seen["last"] = max(seen["last"], p.rowid)
                    yield LexicalDoc(p.rowid, p.title, p.abstract, p.authors)

    if not count_papers_after(engine, current.last_rowid):
        return 0
    updated = current.with_documents(stream(), current.last_rowid)
    if not seen["papers"]:
        return 0
    updated.last_rowid = seen["last"]
    root.mkdir(parents=True, exist_ok=True)
    updated.save(layout.lexical)
    return seen["papers"]


def build_index(engine: sa.Engine, root: Path, encoder: Encoder, *, rebuild: bool = False,
                spec: IndexSpec | None = None, limit: int | None = None, reencode: bool = False,
                on_progress: Callable[[int, int], None] | None = None,
                batch_size: int = READ_BATCH) -> BuildReport:
    """Embed every paper with no stored embedding for `encoder`, then bring the index files under `root`
    up to date from the store.

    `rebuild` rebuilds the index files from the store (nothing is re-encoded); `reencode` drops the stored
    embeddings and encodes everything again. `spec` gives a new index's FDE shape and token pooling.
    `limit` stops after that many newly encoded papers. `on_progress(done, total)` is called after every
    batch. Safe to kill at any point and run again.
    """
    start = time.perf_counter()
    timings: dict[str, float] = {}
    t = time.perf_counter()
    lexical_added = build_lexical(engine, root)
    timings["lexical"] = time.perf_counter() - t
    model = resolve_model(engine, identity_of(encoder), encoder.dim,
                          pool_factor=spec.token_pool_factor if spec is not None else None, reencode=reencode)
    todo = count_unembedded(engine, model.id)
    if limit is not None:
        todo = min(todo, limit)
    report = BuildReport(total=todo, lexical_added=lexical_added)
    embedder = Embedder(engine, encoder, model)
    t = time.perf_counter()
    embedded = embedder.run(limit=limit, batch_size=batch_size,
                            on_progress=(lambda done: on_progress(done, todo)) if on_progress else None)
    timings["embed"] = time.perf_counter() - t
    report.added, report.encode_seconds = embedded.added, embedded.encode_seconds
    shape = None
    if spec is not None:
        shape = {k: getattr(spec, k) for k in ("fde_r_reps", "fde_k_sim", "fde_d_proj", "fde_final_dim",
                                               "fde_seed")}
    t = time.perf_counter()
    synced = IndexSync(engine, root).run(embedder.model, rebuild=rebuild, shape=shape)
    timings["sync"] = time.perf_counter() - t
    report.indexed, report.rebuilt = synced.added, synced.rebuilt
    report.resumed_from = 0 if synced.rebuilt else synced.last_seq - synced.added
    report.seconds = time.perf_counter() - start
    report.timings = timings
    return report
