"""Query -> ranked papers in four modes: bm25, dense, late (MUVERA + exact MaxSim), hybrid (fusion).

A `SearchEngine` opens the indexes and the encoder once and is meant to be kept (the web app holds
one); it notices when `paperscope index` has published new papers and re-opens the indexes.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, Literal, TypeVar

import numpy as np
import sqlalchemy as sa

from paperscope.embed import Encoded, Encoder, encoder_identity, load_encoder
from paperscope.index.indexset import IndexLayout, IndexSet
from paperscope.index.lexical import LexicalIndex
from paperscope.search.calibration import Calibration
from paperscope.search.fusion import reciprocal_rank_fusion, zscore_fusion
from paperscope.search.types import MODES, Coverage, Mode, SearchFilters, SearchHit, SearchResult
from paperscope.settings import Settings
from paperscope.store import count_papers, get_papers_by_rowid
from paperscope.store.fulltext import (
    TextFilters,
    filter_rowids,
    matched_terms,
    rowids_matching,
    search_fulltext,
)
from paperscope.store.indexing import count_papers_after
from paperscope.store.papers import hidden_among

VECTOR_MODES: tuple[Mode, ...] = ("dense", "late", "hybrid")
T = TypeVar("T")


@dataclass(frozen=True)
class SearchConfig:
    """Depths and fusion weights, tuned on SciFact *train* (benchmarks/search_quality.py)."""

    # Hybrid: reciprocal-rank fusion weights of the three lists and how deep each list goes.
    # SciFact train grid search: bm25 2 / dense 1 / late 1 with k=10 gave nDCG@10 0.734 (equal weights,
    # k=60: lower); a small k lets each list's top ranks dominate.
    weights: dict[str, float] = field(default_factory=lambda: {"bm25": 2.0, "dense": 1.0, "late": 1.0})
    rrf_k: int = 10
    # "zscore" fuses standardised scores instead of ranks (`fusion.zscore_fusion`), with its own weights,
    # chosen on SciFact train: nDCG@10 train 0.7414 vs 0.7298 for rank fusion, test 0.7377 vs 0.7313
    # (benchmarks/RESULTS.md). Rank fusion stays the default: it needs no assumption about how each
    # list's scores are spread, so it is the safer bet on collections nobody has measured.
    fusion: Literal["rrf", "zscore"] = "rrf"
    zscore_weights: dict[str, float] = field(
        default_factory=lambda: {"bm25": 1.0, "dense": 0.75, "late": 0.25})
    fusion_depth: int = 100
    # Late mode: FDE/HNSW candidates re-ranked with exact MaxSim, plus as many pooled-vector candidates.
    # Recall@10 of exact MaxSim over all papers grows harder with the corpus: SciFact train (5k) 100 + 100
    # 0.938, 200 + 200 0.975; the real 74.5k arXiv index (title queries 1-100) 200 + 200 0.875, 400 + 400
    # 0.924, 800 + 800 0.954 at ~26 ms, still ~34x faster than brute force (benchmarks/RESULTS.md).
    late_candidates: int = 800
    # Inside hybrid, late is one list of three: FDE + pooled candidates re-ranked. SciFact train with pooled
    # tokens (factor 2): 100 + 100 0.7333, 50 + 50 0.7318; 50 + 50 halves the re-rank's rows
    # (benchmarks/RESULTS.md, token pooling).
    hybrid_late_candidates: int = 50
    # Also re-rank the pooled-vector HNSW's top candidates (see _late).
    late_pooled_candidates: bool = True
    # HNSW beam width (None: the index default, usearch's 64).
    ef: int | None = 256
    # Largest result depth any mode returns (bounds `total` and paging).
    max_depth: int = 1000
    # Threads one query may use (None: one per core; 1: everything on the caller's thread).
    threads: int | None = None


@dataclass
class _Ranked:
    """One mode's ranked candidates: row ids best first and their scores."""

    ids: list[int]
    scores: list[float]

    def top(self, n: int) -> _Ranked:
        return _Ranked(self.ids[:n], self.scores[:n])


class _Reopened(Generic[T]):
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


def _to_text_filters(filters: SearchFilters | None) -> TextFilters | None:
    if filters is None:
        return None
    return TextFilters(categories=tuple(filters.categories), date_from=filters.date_from,
                       date_to=filters.date_to, author=filters.author,
                       author_names=tuple(filters.author_names))


def _threshold_notes(hits: list[SearchHit], kept: list[SearchHit],
                     components: dict[str, dict[int, float]],
                     has_vector: Callable[[int], bool] | None) -> list[str]:
    """What the relevance threshold did, in words: how many results it hid, and how many it kept
    without a score because they have no vector yet."""
    notes = []
    if len(kept) < len(hits):
        hidden = len(hits) - len(kept)
        notes.append(f"hid {hidden} off-topic result{'s' if hidden != 1 else ''}")
    dense = components.get("dense", {})
    unscored = sum(1 for h in kept if h.rowid not in dense and has_vector is not None
                   and not has_vector(h.rowid))
    if unscored:
        notes.append(f"{unscored} result{'s' if unscored != 1 else ''} without vectors yet "
                     "(not indexed) kept unscored")
    return notes


class SearchEngine:
    """Everything a query needs, opened once: the store, the index set, the query encoder."""

    def __init__(self, engine: sa.Engine, settings: Settings, config: SearchConfig | None = None,
                 encoder: Encoder | None = None, calibration: Calibration | None = None) -> None:
        self.engine = engine
        self.settings = settings
        self.config = config or SearchConfig()
        self._encoder = encoder
        self.calibration = calibration if calibration is not None else Calibration.bundled()
        self._layout = IndexLayout(settings.index_dir)
        # The web app searches from several threads; opening indexes or the model must happen once.
        self._lock = threading.Lock()
        root = self._layout.root
        # Readers memory-map the HNSW files: re-opening after a catch-up costs no copy, and workers share
        # one copy in the page cache.
        self._indexes = _Reopened(self._layout.manifest, lambda: IndexSet.open(root, view=True), self._lock)
        self._lexical = _Reopened(self._layout.lexical / "meta.json",
                                  lambda: LexicalIndex.open(self._layout.lexical), self._lock)
        # One query uses every core: hybrid's BM25 runs beside the vector searches, and the exact
        # MaxSim re-rank is split into one block per core (numpy releases the GIL for both).
        self._workers = max(1, self.config.threads or os.cpu_count() or 1)
        self._pool: ThreadPoolExecutor | None = None
        self._model_name: str | None = encoder.name if encoder is not None else None
        self._papers_counted: tuple[float, int] | None = None

    # -- resources -------------------------------------------------------------------------------------

    @property
    def indexes(self) -> IndexSet | None:
        """The current index set (re-opened when the manifest changed), or None when none exists."""
        return self._indexes.get()

    @property
    def lexical(self) -> LexicalIndex | None:
        """The in-memory BM25 index (re-opened when `paperscope index` rewrote it), or None."""
        return self._lexical.get()

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

    def usable_indexes(self) -> tuple[IndexSet | None, str | None]:
        """The index set if its vectors were made by the configured encoder, else (None, why not)."""
        idx = self.indexes
        if idx is None:
            return None, "no vector index yet (run `paperscope index`, or `paperscope serve` embeds in the " \
                         "background)"
        if idx.manifest.spec.model != self.model_name:
            return None, (f"the vector index was built by model {idx.manifest.spec.model!r}, not the "
                          f"configured {self.model_name!r} (run `paperscope index --reencode`)")
        return idx, None

    def coverage(self) -> Coverage:
        """How many papers the vector indexes hold, of how many in the store (the count is cached a few
        seconds: it is shown with every search)."""
        now = time.monotonic()
        if self._papers_counted is None or now - self._papers_counted[0] > 5.0:
            self._papers_counted = (now, count_papers(self.engine))
        idx, _ = self.usable_indexes()
        return Coverage(indexed=idx.manifest.count if idx is not None else 0, papers=self._papers_counted[1])

    def encode_query(self, query: str) -> Encoded:
        return self.encoder.encode_queries([query])[0]

    # -- one mode each ----------------------------------------------------------------------------------

    def lexical_hits(self, query: str, depth: int) -> list[tuple[int, float]]:
        """BM25 (row id, score) pairs for `query`, best first: what bm25 mode ranks, without the rest
        of a search (papers, hidden ones, paging). Used by similar papers' more-like-this."""
        ranked = self._bm25(query, depth, None)
        return list(zip(ranked.ids, ranked.scores, strict=True))

    def _bm25(self, query: str, depth: int, filters: TextFilters | None) -> _Ranked:
        lexical = self.lexical
        if lexical is None or not len(lexical):
            hits = search_fulltext(self.engine, query, limit=depth, filters=filters)
            return _Ranked([r for r, _ in hits], [s for _, s in hits])

        # Filters become one set of allowed papers up front (a date window or a category is one indexed
        # query), so a narrow filter never needs rounds of over-fetching.
        allowed = (np.asarray(rowids_matching(self.engine, filters), dtype=np.int64)
                   if filters is not None and filters.active else None)
        keys, scores = lexical.search(query, depth, allowed)
        ranked = _Ranked(keys.tolist(), scores.tolist())
        if count_papers_after(self.engine, lexical.last_rowid):
            # Papers ingested since the last `paperscope index` are found by the database's full-text
            # index. On SQLite both sides are BM25 (k1 1.2, b 0.75) and merge as they are; PostgreSQL's
            # cover-density scores are smaller, so there such papers rank below indexed ones until the
            # next `paperscope index` (seconds for the BM25 part).
            tail = search_fulltext(self.engine, query, limit=depth, filters=filters,
                                   after_rowid=lexical.last_rowid)
            merged = sorted([*zip(ranked.ids, ranked.scores, strict=True), *tail], key=lambda h: -h[1])
            ranked = _Ranked([i for i, _ in merged[:depth]], [s for _, s in merged[:depth]])
        return ranked

    def _timed_bm25(self, query: str, depth: int, filters: TextFilters | None) -> tuple[_Ranked, float]:
        t = time.perf_counter()
        ranked = self._bm25(query, depth, filters)
        return ranked, (time.perf_counter() - t) * 1000

    def _filtered(self, search: Callable[[int], _Ranked], depth: int, filters: TextFilters | None,
                  size: int) -> _Ranked:
        """Run an index search, over-fetching (x4 each round) until `depth` hits pass the filters."""
        fetch = depth if filters is None or not filters.active else depth * 4
        while True:
            fetch = min(fetch, size)
            ranked = search(fetch)
            if filters is None or not filters.active:
                return ranked.top(depth)
            keep = filter_rowids(self.engine, ranked.ids, filters)
            ids = [i for i in ranked.ids if i in keep]
            scores = [s for i, s in zip(ranked.ids, ranked.scores, strict=True) if i in keep]
            if len(ids) >= depth or fetch >= size:
                return _Ranked(ids[:depth], scores[:depth])
            fetch *= 4

    def _dense(self, q: Encoded, idx: IndexSet, depth: int, filters: TextFilters | None,
               memo: dict[int, _Ranked] | None = None) -> _Ranked:
        # Hybrid asks for the same pooled-vector list twice (dense, and late's extra candidates).
        if memo is not None and depth in memo:
            return memo[depth]

        def run(n: int) -> _Ranked:
            keys, sims = idx.pooled.search(q.pooled, n, ef=max(self.config.ef or 0, n) or None)
            return _Ranked(keys.tolist(), sims.tolist())
        ranked = self._filtered(run, depth, filters, len(idx.pooled))
        if memo is not None:
            memo[depth] = ranked
        return ranked

    def _late(self, q: Encoded, idx: IndexSet, depth: int, filters: TextFilters | None,
              memo: dict[int, _Ranked] | None = None, n_candidates: int | None = None) -> _Ranked:
        fde_query = idx.fde.encode_query(q.tokens)

        def run(n: int) -> _Ranked:
            keys, sims = idx.fde_ann.search(fde_query, n, ef=max(self.config.ef or 0, n) or None)
            return _Ranked(keys.tolist(), sims.tolist())
        # Late mode fills its whole depth; inside hybrid the late list may be shorter than the fusion depth.
        n = n_candidates if n_candidates is not None else max(depth, self.config.late_candidates)
        candidates = self._filtered(run, n, filters, len(idx.fde_ann)).ids
        if self.config.late_pooled_candidates:
            # The FDE alone misses some exact-MaxSim winners (SciFact train); the pooled HNSW is cheap
            # and finds most of the rest, so both candidate sets go to the exact re-rank.
            pooled = self._dense(q, idx, n, filters, memo).ids
            candidates = list(dict.fromkeys(candidates + pooled))
        return self.rerank_maxsim(q, idx, candidates, depth, self.pool, self._workers)

    @staticmethod
    def rerank_maxsim(q: Encoded, idx: IndexSet, ids: list[int], depth: int,
                      executor: Executor | None = None, workers: int = 1) -> _Ranked:
        """Exact MaxSim of the query against each candidate's stored tokens, best first (scored in
        `workers` parallel blocks when an executor is given)."""
        if not ids:
            return _Ranked([], [])
        keys = np.asarray(ids, dtype=np.int64)
        scores = idx.tokens.maxsim(q.tokens, keys, executor, workers)
        order = np.argsort(-scores, kind="stable")[:depth]
        return _Ranked(keys[order].tolist(), scores[order].tolist())

    # -- the public entry point -------------------------------------------------------------------------

    def _weights(self) -> dict[str, float]:
        """Hybrid's weight per list under the configured fusion."""
        return self.config.zscore_weights if self.config.fusion == "zscore" else self.config.weights

    def search(self, query: str, *, mode: Mode = "hybrid", k: int = 10, offset: int = 0,
               filters: SearchFilters | None = None, threshold: float | None = None,
               encoded: Encoded | None = None) -> SearchResult:
        """Rank papers for `query`. See `paperscope.search.search` for the meaning of each argument."""
        if mode not in MODES:
            raise ValueError(f"unknown search mode {mode!r}; choose one of {', '.join(MODES)}")
        k, offset = max(0, k), max(0, offset)
        timings: dict[str, float] = {}
        notes: list[str] = []
        text_filters = _to_text_filters(filters)
        need = min(self.config.max_depth, offset + k)
        idx, why_not = self.usable_indexes() if mode in VECTOR_MODES else (None, None)
        used: Mode = mode
        if mode in VECTOR_MODES and idx is None:
            notes.append(f"{why_not}: {mode} fell back to bm25")
            used = "bm25"
        t0 = time.perf_counter()
        q: Encoded | None = None
        if used != "bm25" and query.strip():
            q = encoded if encoded is not None else self.encode_query(query)
            timings["encode"] = (time.perf_counter() - t0) * 1000
        lists: dict[str, _Ranked] = {}
        pooled_memo: dict[int, _Ranked] = {}
        depth = max(need, self.config.fusion_depth) if used == "hybrid" else max(need, 1)
        bm25_future: Future[tuple[_Ranked, float]] | None = None
        for name in ("bm25", "dense", "late"):
            if used not in (name, "hybrid"):
                continue
            if used == "hybrid" and self._weights().get(name, 0.0) <= 0:
                continue
            t = time.perf_counter()
            if name == "bm25" and used == "hybrid" and q is not None and self.pool is not None:
                bm25_future = self.pool.submit(self._timed_bm25, query, depth, text_filters)
                continue
            if name == "bm25":
                lists[name] = self._bm25(query, depth, text_filters)
            elif q is not None and idx is not None and name == "dense":
                lists[name] = self._dense(q, idx, depth, text_filters, pooled_memo)
            elif q is not None and idx is not None:
                candidates = self.config.hybrid_late_candidates if used == "hybrid" else None
                lists[name] = self._late(q, idx, depth, text_filters, pooled_memo, candidates)
            timings[name] = (time.perf_counter() - t) * 1000
        if bm25_future is not None:
            lists["bm25"], timings["bm25"] = bm25_future.result()
            lists = {name: lists[name] for name in ("bm25", "dense", "late") if name in lists}
        if threshold is not None and "dense" not in lists and q is not None and idx is not None:
            # The threshold is calibrated on pooled-vector cosine: fetch it for late mode too.
            lists["dense"] = self._dense(q, idx, max(depth, self.config.fusion_depth), text_filters)
        if used == "hybrid":
            t = time.perf_counter()
            if self.config.fusion == "zscore":
                fused = zscore_fusion({n: (r.ids, r.scores) for n, r in lists.items()}, self._weights())
            else:
                fused = reciprocal_rank_fusion({n: r.ids for n, r in lists.items()}, self.config.weights,
                                               self.config.rrf_k)
            ranked = _Ranked([i for i, _ in fused], [s for _, s in fused])
            timings["fusion"] = (time.perf_counter() - t) * 1000
        else:
            ranked = lists.get(used, _Ranked([], []))
        components = {name: dict(zip(r.ids, r.scores, strict=True)) for name, r in lists.items()}

        def hit(i: int, s: float) -> SearchHit:
            return SearchHit(rowid=i, paper_id="", score=s,
                             components={n: c[i] for n, c in components.items() if i in c})

        no_good_answer = False
        if threshold is not None and ranked.ids:
            hits = [hit(i, s) for i, s in zip(ranked.ids, ranked.scores, strict=True)]
            has_vector = (lambda rowid: rowid in idx.pooled) if idx is not None else None
            kept = self.calibration.apply(hits, used, threshold, components, query, has_vector)
            if kept is None:
                notes.append(f"no relevance threshold is calibrated for {used} mode; threshold ignored")
            else:
                no_good_answer = not kept
                notes.extend(_threshold_notes(hits, kept, components, has_vector))
                hits = kept
            ranked = _Ranked([h.rowid for h in hits], [h.score for h in hits])
        # Papers a moderator hid leave search as they leave every listing (one indexed query).
        hidden = hidden_among(self.engine, ranked.ids)
        kept_ids = [(i, s) for i, s in zip(ranked.ids, ranked.scores, strict=True) if i not in hidden]
        # Only the page returned becomes SearchHit objects (a fused list holds a few hundred ids).
        hits = [hit(i, s) for i, s in kept_ids[offset:offset + k]]
        total = len(kept_ids)
        page = self._attach_papers(query, hits)
        timings["total"] = (time.perf_counter() - t0) * 1000
        return SearchResult(query=query, mode=used, hits=page, offset=offset, total=total,
                            no_good_answer=no_good_answer, timings_ms=timings, notes=notes,
                            coverage=self.coverage())

    def _attach_papers(self, query: str, hits: list[SearchHit]) -> list[SearchHit]:
        """Fill in paper ids and matched query terms for the page being returned."""
        if not hits:
            return []
        papers = {p.rowid: p for p in get_papers_by_rowid(self.engine, [h.rowid for h in hits])}
        page = []
        for h in hits:
            p = papers.get(h.rowid)
            if p is None:  # deleted since it was indexed
                continue
            page.append(SearchHit(rowid=h.rowid, paper_id=p.paper_id, score=h.score, components=h.components,
                                  matched_terms=matched_terms(query, [p.title, p.abstract])))
        return page
