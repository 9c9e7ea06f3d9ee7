"""The one read side of the indexes: every caller that ranks papers (search, similar papers, "for you",
digests) retrieves through a `Retriever`.

It opens the BM25 index and the vector index set once and re-opens them when `paperscope index` (or the
web server's maintainer) rewrites their marker files, and offers three ways to rank:

  bm25(query, depth)                    the lexical index (plus papers ingested since it was built, from
                                        the database's full-text index; without it, that index alone)
  dense(vector, depth)                  the pooled-vector HNSW
  late(query_tokens, candidates, depth) exact MaxSim of query tokens against candidates' stored tokens,
                                        with `fde_candidates` (MUVERA FDE HNSW) to find candidates

Filters (categories, dates, authors) are applied by over-fetching; one query may use several threads
(`pool`): the MaxSim re-rank is cut into one block per core (numpy releases the GIL).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import numpy as np
import sqlalchemy as sa

from paperscope.embed import Encoded, Encoder, encoder_identity, load_encoder
from paperscope.index.indexset import IndexLayout, IndexSet
from paperscope.index.lexical import LexicalIndex
from paperscope.settings import Settings
from paperscope.store.fulltext import TextFilters, filter_rowids, rowids_matching, search_fulltext
from paperscope.store.indexing import count_papers_after

T = TypeVar("T")


@dataclass
class Ranked:
    """One ranked list: row ids best first and their scores."""

    ids: list[int]
    scores: list[float]

    def top(self, n: int) -> Ranked:
        return Ranked(self.ids[:n], self.scores[:n])

    def pairs(self) -> list[tuple[int, float]]:
        return list(zip(self.ids, self.scores, strict=True))


class Reopened(Generic[T]):
    """Something opened from files, opened again when `paperscope index` rewrites its marker file."""

    def __init__(self, marker: Path, opener: Callable[[], T | None], lock: threading.Lock) -> None:
        self._marker, self._opener, self._lock = marker, opener, lock
        self._value: T | None = None
        self._mtime: float | None = None

    def get(self) -> T | None:
        try:
            mtime = self._marker.stat().st_mtime
        except FileNotFoundError:
            return None
        if mtime != self._mtime:
            with self._lock:
                if mtime != self._mtime:
                    self._value = self._opener()
                    self._mtime = mtime
        return self._value


def pooled_vectors(pooled_index: Any, keys: Sequence[int]) -> dict[int, np.ndarray]:
    """The stored pooled vector of each key found in a pooled `AnnIndex` (missing keys are left out).

    AnnIndex has no public read of its vectors, so this reads usearch's `get` through it; an int8 index
    is scaled back to floats with the index's own quantisation scale.
    """
    if not keys:
        return {}
    getter = getattr(pooled_index, "vectors", None)
    if callable(getter):  # a public accessor, should AnnIndex grow one
        found = getter(np.asarray(keys, dtype=np.int64))
        return {int(k): np.asarray(v, dtype=np.float32) for k, v in zip(keys, found, strict=True)
                if v is not None}
    index = pooled_index._index
    arr = np.asarray(keys, dtype=np.int64)
    present = np.asarray(index.contains(arr), dtype=bool).reshape(-1)
    out: dict[int, np.ndarray] = {}
    if not present.any():
        return out
    got = np.asarray(index.get(arr[present]), dtype=np.float32).reshape(int(present.sum()), -1)
    scale = getattr(pooled_index, "_i8_scale", None)
    if getattr(pooled_index, "dtype", "") == "i8" and scale:
        got = got / float(scale)
    for key, vec in zip(arr[present].tolist(), got, strict=True):
        out[int(key)] = vec
    return out


class Retriever:
    """The store, the opened indexes and the query encoder of one installation; keep one per process.

    `ef` is the HNSW beam width (None: usearch's default); `threads` how many threads one query may use
    (None: one per core; 1: everything on the caller's thread).
    """

    def __init__(self, store: sa.Engine, settings: Settings, *, encoder: Encoder | None = None,
                 ef: int | None = 256, threads: int | None = None) -> None:
        self.store = store
        self.settings = settings
        self.ef = ef
        self._encoder = encoder
        self._model_name: str | None = encoder.name if encoder is not None else None
        self.layout = IndexLayout(settings.index_dir)
        # The web app searches from several threads; opening indexes or the model must happen once.
        self._lock = threading.Lock()
        root = self.layout.root
        # Readers memory-map the HNSW files: re-opening after a catch-up costs no copy, and workers share
        # one copy in the page cache.
        self._indexes = Reopened(self.layout.manifest, lambda: IndexSet.open(root, view=True), self._lock)
        self._lexical = Reopened(self.layout.lexical / "meta.json",
                                 lambda: LexicalIndex.open(self.layout.lexical), self._lock)
        self._workers = max(1, threads or os.cpu_count() or 1)
        self._pool: ThreadPoolExecutor | None = None
        self._projection: tuple[int, np.ndarray] | None = None

    # -- what is open ----------------------------------------------------------------------------------

    @property
    def indexes(self) -> IndexSet | None:
        """The current index set (re-opened when the manifest changed), or None when none exists."""
        return self._indexes.get()

    @property
    def lexical(self) -> LexicalIndex | None:
        """The in-memory BM25 index (re-opened when `paperscope index` rewrote it), or None."""
        return self._lexical.get()

    def complete_lexical(self) -> LexicalIndex | None:
        """The BM25 index when it holds every paper of the store (so searching it alone misses nothing),
        else None."""
        index = self.lexical
        if index is None or not len(index) or count_papers_after(self.store, index.last_rowid):
            return None
        return index

    @property
    def workers(self) -> int:
        """How many threads one query may use (`pool`'s size)."""
        return self._workers

    @property
    def pool(self) -> Executor | None:
        """Threads one query's independent parts run on (None on a single core)."""
        if self._workers < 2:
            return None
        if self._pool is None:
            with self._lock:
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix="paperscope-search")
        return self._pool

    @property
    def encoder(self) -> Encoder:
        """The query encoder (loaded on first use)."""
        if self._encoder is None:
            with self._lock:
                if self._encoder is None:
                    self._encoder = load_encoder(self.settings)
        return self._encoder

    @property
    def model_name(self) -> str:
        """The configured encoder's name (known without loading it)."""
        if self._model_name is None:
            self._model_name = encoder_identity(self.settings).name
        return self._model_name

    def encode_query(self, query: str) -> Encoded:
        return self.encoder.encode_queries([query])[0]

    def usable_indexes(self) -> tuple[IndexSet | None, str | None]:
        """The index set if its manifest names the configured encoder's model, else (None, why not)."""
        idx = self.indexes
        if idx is None:
            return None, "no vector index yet (run `paperscope index`, or `paperscope serve` embeds in the " \
                         "background)"
        if idx.manifest.spec.model != self.model_name:
            return None, (f"the vector index was built by model {idx.manifest.spec.model!r}, not the "
                          f"configured {self.model_name!r} (run `paperscope index --reencode`)")
        return idx, None

    # -- bm25 ------------------------------------------------------------------------------------------

    def bm25(self, query: str, depth: int, filters: TextFilters | None = None) -> Ranked:
        """BM25 ranking of `query`, best first, at most `depth` papers that pass `filters`."""
        lexical = self.lexical
        if lexical is None or not len(lexical):
            hits = search_fulltext(self.store, query, limit=depth, filters=filters)
            return Ranked([r for r, _ in hits], [s for _, s in hits])
        # Filters become one set of allowed papers up front (a date window or a category is one indexed
        # query), so a narrow filter never needs rounds of over-fetching.
        allowed = (np.asarray(rowids_matching(self.store, filters), dtype=np.int64)
                   if filters is not None and filters.active else None)
        keys, scores = lexical.search(query, depth, allowed)
        ranked = Ranked(keys.tolist(), scores.tolist())
        if count_papers_after(self.store, lexical.last_rowid):
            # Papers ingested since the last `paperscope index` are found by the database's full-text
            # index. On SQLite both sides are BM25 (k1 1.2, b 0.75) and merge as they are; PostgreSQL's
            # cover-density scores are smaller, so there such papers rank below indexed ones until the
            # next `paperscope index` (seconds for the BM25 part).
            tail = search_fulltext(self.store, query, limit=depth, filters=filters,
                                   after_rowid=lexical.last_rowid)
            merged = sorted([*ranked.pairs(), *tail], key=lambda h: -h[1])
            ranked = Ranked([i for i, _ in merged[:depth]], [s for _, s in merged[:depth]])
        return ranked

    # -- vectors ---------------------------------------------------------------------------------------

    def _filtered(self, search: Callable[[int], Ranked], depth: int, filters: TextFilters | None,
                  size: int) -> Ranked:
        """Run an index search, over-fetching (x4 each round) until `depth` hits pass the filters."""
        fetch = depth if filters is None or not filters.active else depth * 4
        while True:
            fetch = min(fetch, size)
            ranked = search(fetch)
            if filters is None or not filters.active:
                return ranked.top(depth)
            keep = filter_rowids(self.store, ranked.ids, filters)
            ids = [i for i in ranked.ids if i in keep]
            scores = [s for i, s in zip(ranked.ids, ranked.scores, strict=True) if i in keep]
            if len(ids) >= depth or fetch >= size:
                return Ranked(ids[:depth], scores[:depth])
            fetch *= 4

    def _ef(self, n: int) -> int | None:
        return max(self.ef or 0, n) or None

    def dense(self, vector: np.ndarray, depth: int, filters: TextFilters | None = None, *,
              idx: IndexSet | None = None) -> Ranked:
        """The papers whose pooled vectors are nearest `vector` (inner product), best first."""
        index_set = idx if idx is not None else self.indexes
        if index_set is None:
            return Ranked([], [])
        pooled = index_set.pooled

        def run(n: int) -> Ranked:
            keys, sims = pooled.search(vector, n, ef=self._ef(n))
            return Ranked(keys.tolist(), sims.tolist())
        return self._filtered(run, depth, filters, len(pooled))

    def fde_candidates(self, query_tokens: np.ndarray, n: int, filters: TextFilters | None = None, *,
                       idx: IndexSet | None = None) -> list[int]:
        """Up to `n` papers whose MUVERA encoding is nearest the query tokens' (late interaction's
        candidates, in FDE order)."""
        index_set = idx if idx is not None else self.indexes
        if index_set is None:
            return []
        fde_query = index_set.fde.encode_query(query_tokens)
        fde_ann = index_set.fde_ann

        def run(k: int) -> Ranked:
            keys, sims = fde_ann.search(fde_query, k, ef=self._ef(k))
            return Ranked(keys.tolist(), sims.tolist())
        return self._filtered(run, n, filters, len(fde_ann)).ids

    def late(self, query_tokens: np.ndarray, candidates: Sequence[int], depth: int, *,
             idx: IndexSet | None = None) -> Ranked:
        """Exact MaxSim of the query tokens against each candidate's stored tokens, best `depth` first
        (scored in one block per worker thread). A candidate without stored tokens scores -inf."""
        index_set = idx if idx is not None else self.indexes
        if not candidates or index_set is None:
            return Ranked([], [])
        keys = np.asarray(candidates, dtype=np.int64)
        scores = index_set.tokens.maxsim(query_tokens, keys, self.pool, self._workers)
        order = np.argsort(-scores, kind="stable")[:depth]
        return Ranked(keys[order].tolist(), scores[order].tolist())

    def paper_tokens(self, rowid: int) -> np.ndarray | None:
        """A paper's stored token vectors mapped back to the encoder's dimension, usable as late
        interaction query tokens (None if the paper is not indexed)."""
        idx = self.indexes
        if idx is None or rowid not in idx.tokens or not idx.tokens.is_fitted:
            return None
        store = idx.tokens
        if self._projection is None or self._projection[0] != id(store):
            # project_query(I) is the (dim x reduced) orthonormal projection P; reduced tokens times P^T
            # lie in the span MaxSim sees, and project back onto exactly themselves.
            self._projection = (id(store), store.project_query(np.eye(store.dim, dtype=np.float32)))
        tokens = store.get(rowid)
        if len(tokens) == 0:
            return None
        return np.asarray(tokens @ self._projection[1].T, dtype=np.float32)

    def pooled_vectors(self, rowids: Sequence[int], *, idx: IndexSet | None = None) -> dict[int, np.ndarray]:
        """The stored pooled vector of each paper in `rowids` that has one (none without an index)."""
        index_set = idx if idx is not None else self.indexes
        return pooled_vectors(index_set.pooled, rowids) if index_set is not None else {}

    def version(self) -> str:
        """The index set's checkpoint and size ("none" without one): what cached rankings depend on."""
        idx = self.indexes
        return f"{idx.manifest.last_seq}.{idx.manifest.count}" if idx is not None else "none"
