"""The indexing pipeline: papers in the store -> vectors -> the three on-disk indexes.

Under `settings.index_dir`:
  pooled.usearch   HNSW over the pooled (mean) vector of each paper       (dense mode)
  fde.usearch      HNSW over each paper's MUVERA fixed-dimensional encoding (late-mode candidates)
  tokens/          the per-token vectors, compressed                       (late-mode exact MaxSim)
  lexical/         the in-memory BM25 index (index/lexical.py), with its own checkpoint       (bm25 mode)
  manifest.json    what was built (model, FDE shape) and the checkpoint: the highest row id indexed

Papers are read in row-id order, so "not yet embedded" is simply "row id above the checkpoint". The
manifest is written (atomically) only after every index has been saved, so a killed run resumes from
the last save; anything added after it is added again, which the indexes treat as a replacement.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa

from paperscope.embed import Encoder, paper_text
from paperscope.files import write_atomically
from paperscope.index.ann import AnnIndex
from paperscope.index.fde import FDE, FDEConfig
from paperscope.index.lexical import LexicalDoc, LexicalIndex
from paperscope.index.tokens import TokenStore
from paperscope.store import count_papers, iter_papers
from paperscope.store.indexing import count_papers_after

MANIFEST = "manifest.json"
# How many papers to hand the encoder at once: large enough that sorting by length saves padding.
READ_BATCH = 256
# Save (and checkpoint) at most this often: saving re-writes the HNSW files, which costs time.
SAVE_EVERY_S = 60.0


@dataclass(frozen=True)
class IndexSpec:
    """The shape of an index set; stored in the manifest so readers build queries the same way.

    FDE: 32 repetitions x 2^3 buckets x 8 dims = 2,048 dims, stored as int8, so the FDE index payload
    is 2 KB per paper. A natively small FDE needs far fewer candidates than a 10,240-d one
    count-sketched down to the same size (benchmarks/RESULTS.md, MUVERA fidelity: 105 vs 269 for 90%
    of the exact MaxSim top-10).
    """

    model: str
    dim: int
    fde_r_reps: int = 32
    fde_k_sim: int = 3
    fde_d_proj: int = 8
    fde_final_dim: int | None = None
    fde_seed: int = 42
    dtype: str = "f16"
    fde_dtype: str = "i8"
    # Stored tokens for the MaxSim re-rank: one k-means mean per two tokens halves the rows read per query
    # (SciFact test: hybrid nDCG@10 unchanged, late -0.002; benchmarks/RESULTS.md, token pooling).
    token_pool_factor: int = 2

    def fde_config(self) -> FDEConfig:
        return FDEConfig(dim=self.dim, r_reps=self.fde_r_reps, k_sim=self.fde_k_sim, d_proj=self.fde_d_proj,
                         final_dim=self.fde_final_dim, seed=self.fde_seed)


@dataclass(frozen=True)
class IndexLayout:
    """Where each index of one index set lives."""

    root: Path

    @property
    def pooled(self) -> Path:
        return self.root / "pooled.usearch"

    @property
    def fde(self) -> Path:
        return self.root / "fde.usearch"

    @property
    def tokens(self) -> Path:
        return self.root / "tokens"

    @property
    def manifest(self) -> Path:
        return self.root / MANIFEST

    @property
    def lexical(self) -> Path:
        return self.root / "lexical"


@dataclass
class Manifest:
    """What an index set holds: its spec, the highest row id indexed and how many papers."""

    spec: IndexSpec
    last_rowid: int = 0
    count: int = 0

    @classmethod
    def read(cls, path: Path) -> Manifest | None:
        if not path.is_file():
            return None
        data = json.loads(path.read_text())
        # Index sets written before token pooling existed keep every token.
        data["spec"].setdefault("token_pool_factor", 1)
        return cls(spec=IndexSpec(**data["spec"]), last_rowid=int(data["last_rowid"]),
                   count=int(data["count"]))

    def write(self, path: Path) -> None:
        write_atomically(path, json.dumps({"spec": asdict(self.spec), "last_rowid": self.last_rowid,
                                           "count": self.count}, indent=1))


@dataclass
class IndexSet:
    """The three indexes of one index set, opened together, plus the FDE encoder that feeds one of them."""

    layout: IndexLayout
    manifest: Manifest
    pooled: AnnIndex
    fde_ann: AnnIndex
    tokens: TokenStore
    fde: FDE

    @classmethod
    def open(cls, root: Path) -> IndexSet | None:
        """Open the index set under `root`, or None when nothing has been indexed yet."""
        layout = IndexLayout(root)
        manifest = Manifest.read(layout.manifest)
        if manifest is None or manifest.count == 0:
            return None
        return cls(layout, manifest, AnnIndex.open(layout.pooled), AnnIndex.open(layout.fde),
                   TokenStore.open(layout.tokens), FDE(manifest.spec.fde_config()))

    @classmethod
    def create(cls, root: Path, spec: IndexSpec) -> IndexSet:
        layout = IndexLayout(root)
        root.mkdir(parents=True, exist_ok=True)
        fde = FDE(spec.fde_config())
        return cls(layout, Manifest(spec), AnnIndex.create(layout.pooled, spec.dim, spec.dtype),
                   AnnIndex.create(layout.fde, fde.config.output_dim, spec.fde_dtype),
                   TokenStore.create(layout.tokens, spec.dim, pool_factor=spec.token_pool_factor), fde)

    def add(self, keys: np.ndarray, encoded: list[Any]) -> None:
        """Add encoded papers (embed.Encoded) under their row ids to all three indexes."""
        token_lists = [e.tokens for e in encoded]
        self.pooled.add(keys, np.stack([e.pooled for e in encoded]))
        self.fde_ann.add(keys, self.fde.encode_documents(token_lists))
        self.tokens.add(keys, token_lists)

    def save(self, last_rowid: int) -> None:
        """Persist every index, then move the checkpoint (the manifest) forward."""
        self.tokens.flush()
        self.pooled.save()
        self.fde_ann.save()
        self.manifest.last_rowid = last_rowid
        self.manifest.count = len(self.pooled)
        self.manifest.write(self.layout.manifest)

    def disk_bytes(self) -> int:
        """Bytes the index set occupies on disk."""
        return sum(p.stat().st_size for p in self.layout.root.rglob("*") if p.is_file())


@dataclass
class BuildReport:
    """What one `build_index` run did."""

    added: int = 0
    total: int = 0
    seconds: float = 0.0
    encode_seconds: float = 0.0
    resumed_from: int = 0
    lexical_added: int = 0
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.added / self.seconds if self.seconds > 0 else 0.0


def _fit_sample(token_lists: list[np.ndarray], needed: int) -> np.ndarray:
    """The token store's compression is fitted on the first batch; a tiny first batch is repeated so
    that the fit has as many rows as it needs (the projection is then exact on that span)."""
    sample = np.concatenate([t for t in token_lists if len(t)] or [np.zeros((1, 0), np.float32)])
    if 0 < len(sample) < needed:
        sample = np.tile(sample, (needed // len(sample) + 1, 1))
    return sample


def pending_papers(engine: sa.Engine, root: Path) -> int:
    """How many papers in the store are not in the index set under `root` yet."""
    manifest = Manifest.read(IndexLayout(root).manifest)
    if manifest is None:
        return count_papers(engine)
    return count_papers_after(engine, manifest.last_rowid)


def build_lexical(engine: sa.Engine, root: Path) -> int:
    """Bring the BM25 index under `root` up to date with the store; returns how many papers it added.

    Cheap next to encoding (seconds for the whole 74.7k snapshot), so it always covers every paper.
    """
    layout = IndexLayout(root)
    current = LexicalIndex.open(layout.lexical) or LexicalIndex.empty()
    docs: list[LexicalDoc] = []
    last = current.last_rowid
    for batch in iter_papers(engine, after_rowid=current.last_rowid, batch_size=5000):
        docs.extend(LexicalDoc(p.rowid, p.title, p.abstract, p.authors) for p in batch if p.rowid is not None)
        last = max(last, max(p.rowid or 0 for p in batch))
    if not docs:
        return 0
    root.mkdir(parents=True, exist_ok=True)
    current.with_documents(docs, last).save(layout.lexical)
    return len(docs)


def build_index(engine: sa.Engine, root: Path, encoder: Encoder, *, rebuild: bool = False,
                spec: IndexSpec | None = None, limit: int | None = None,
                on_progress: Callable[[int, int], None] | None = None,
                save_every_s: float = SAVE_EVERY_S, batch_size: int = READ_BATCH) -> BuildReport:
    """Embed every paper not yet indexed and add it to the index set under `root`.

    `rebuild` deletes the index set first. `limit` stops after that many papers (benchmarks,
    partial indexes). `on_progress(done, total)` is called after every batch. Safe to kill at any
    point and run again.
    """
    start = time.perf_counter()
    if rebuild and root.exists():
        shutil.rmtree(root)
    layout = IndexLayout(root)
    manifest = Manifest.read(layout.manifest)
    if manifest is not None and manifest.spec.model != encoder.name:
        raise ValueError(f"the index under {root} was built with model {manifest.spec.model!r}, not "
                         f"{encoder.name!r}; run `paperscope index --rebuild`")
    if manifest is None:
        # A half-written first run left no checkpoint: start clean rather than trust stray files.
        if root.exists():
            shutil.rmtree(root)
        indexes = IndexSet.create(root, spec or IndexSpec(model=encoder.name, dim=encoder.dim))
        after = 0
    else:
        opened = IndexSet.open(root)
        assert opened is not None
        indexes, after = opened, manifest.last_rowid
    t_lexical = time.perf_counter()
    lexical_added = build_lexical(engine, root)
    t_lexical = time.perf_counter() - t_lexical
    todo = count_papers_after(engine, after)
    if limit is not None:
        todo = min(todo, limit)
    report = BuildReport(resumed_from=after, total=todo, lexical_added=lexical_added)
    last_save = time.perf_counter()
    last_rowid = after
    timings = {"lexical": t_lexical, "read": 0.0, "encode": 0.0, "index": 0.0, "save": 0.0}
    t = time.perf_counter()
    for batch in iter_papers(engine, after_rowid=after, batch_size=batch_size):
        if limit is not None:
            batch = batch[:limit - report.added]
        if not batch:
            break
        t_read = time.perf_counter()
        timings["read"] += t_read - t
        encoded = encoder.encode_documents([paper_text(p.title, p.abstract) for p in batch])
        t_enc = time.perf_counter()
        timings["encode"] += t_enc - t_read
        if not indexes.tokens.is_fitted:
            indexes.tokens.fit(_fit_sample([e.tokens for e in encoded], indexes.tokens.reduced_dim))
        keys = np.array([p.rowid for p in batch], dtype=np.int64)
        indexes.add(keys, encoded)
        last_rowid = int(keys[-1])
        report.added += len(batch)
        t = time.perf_counter()
        timings["index"] += t - t_enc
        if t - last_save >= save_every_s:
            indexes.save(last_rowid)
            last_save = time.perf_counter()
            timings["save"] += last_save - t
            t = last_save
        if on_progress is not None:
            on_progress(report.added, todo)
        if limit is not None and report.added >= limit:
            break
    t = time.perf_counter()
    if report.added:
        indexes.save(last_rowid)
    timings["save"] += time.perf_counter() - t
    report.seconds = time.perf_counter() - start
    report.encode_seconds = timings["encode"]
    report.timings = timings
    return report
