"""Query -> ranked papers in four modes: bm25, dense, late (MUVERA + exact MaxSim), hybrid (fusion).

A `SearchEngine` wraps the installation's `index.retriever.Retriever` (which opens the indexes and the
encoder once and re-opens the indexes when `paperscope index` has published new papers) and is meant
to be kept (the web app holds one). One search runs five steps: collect each mode's list, fuse them
(hybrid), apply the relevance threshold, drop papers a moderator hid, and cut the page.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field

import sqlalchemy as sa

from paperscope.embed import Encoded, Encoder, ModelError
from paperscope.index.indexset import IndexSet
from paperscope.index.lexical import LexicalIndex
from paperscope.index.profiles import NEUTRAL, Fusion, RetrievalProfile, profile_for, untuned_note
from paperscope.index.retriever import Ranked, Retriever
from paperscope.search.calibration import Calibration
from paperscope.search.config import SearchConfig
from paperscope.search.fusion import reciprocal_rank_fusion, zscore_fusion
from paperscope.search.types import MODES, Coverage, Mode, SearchFilters, SearchHit, SearchResult
from paperscope.settings import Settings
from paperscope.store import count_papers, get_papers_by_rowid
from paperscope.store.fulltext import TextFilters, matched_terms
from paperscope.store.papers import hidden_among

VECTOR_MODES: tuple[Mode, ...] = ("dense", "late", "hybrid")
LIST_NAMES = ("bm25", "dense", "late")

__all__ = ["VECTOR_MODES", "SearchConfig", "SearchEngine"]


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


@dataclass
class _Search:
    """One search in progress: what was asked, what it runs on, and what it has found so far."""

    query: str
    used: Mode
    k: int
    offset: int
    filters: TextFilters | None
    threshold: float | None
    idx: IndexSet | None
    depth: int
    started: float
    q: Encoded | None = None
    lists: dict[str, Ranked] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    # Hybrid asks for the same pooled-vector list twice (dense, and late's extra candidates).
    pooled_memo: dict[int, Ranked] = field(default_factory=dict)
    _components: dict[str, dict[int, float]] | None = None

    def components(self) -> dict[str, dict[int, float]]:
        """Each list's score per paper (read once the lists are collected)."""
        if self._components is None:
            self._components = {name: dict(zip(r.ids, r.scores, strict=True))
                                for name, r in self.lists.items()}
        return self._components


class SearchEngine:
    """Everything a query needs, opened once: the store, the retriever (indexes + encoder), the tuned
    profile of the configured model."""

    def __init__(self, engine: sa.Engine, settings: Settings, config: SearchConfig | None = None,
                 encoder: Encoder | None = None, calibration: Calibration | None = None,
                 fusion: Fusion | None = None) -> None:
        """`config` replaces the model's profile; `fusion` picks hybrid's fusion within the profile."""
        self.engine = engine
        self.settings = settings
        self._config = config
        self._fusion = fusion
        self._calibration = calibration
        knobs = config or SearchConfig()  # ef and threads are the engine's own, not a model's
        self.retriever = Retriever(engine, settings, encoder=encoder, ef=knobs.ef, threads=knobs.threads)
        self._papers_counted: tuple[float, int] | None = None

    # -- resources -------------------------------------------------------------------------------------

    @property
    def profile(self) -> RetrievalProfile:
        """The configured model's tuned profile, or the neutral defaults for a model without one."""
        try:
            return profile_for(self.retriever.model_name)
        except ModelError:  # no model installed: bm25 still works, and needs nothing a profile tunes
            return NEUTRAL

    @property
    def config(self) -> SearchConfig:
        """The config given, else the one of the configured model's profile."""
        if self._config is None:
            changes = {"fusion": self._fusion} if self._fusion is not None else {}
            self._config = SearchConfig.from_profile(self.profile, **changes)
        return self._config

    @property
    def calibration(self) -> Calibration | None:
        """The calibration given, else the profile's (None: this model has none, thresholds are ignored)."""
        if self._calibration is None and self.profile.calibration is not None:
            self._calibration = Calibration(*self.profile.calibration)
        return self._calibration

    @property
    def indexes(self) -> IndexSet | None:
        """The retriever's current index set, or None when none exists."""
        return self.retriever.indexes

    @property
    def lexical(self) -> LexicalIndex | None:
        """The retriever's BM25 index, or None."""
        return self.retriever.lexical

    @property
    def encoder(self) -> Encoder:
        return self.retriever.encoder

    @property
    def model_name(self) -> str:
        """The configured encoder's name (known without loading it)."""
        return self.retriever.model_name

    def usable_indexes(self) -> tuple[IndexSet | None, str | None]:
        """The index set if its vectors were made by the configured encoder, else (None, why not)."""
        return self.retriever.usable_indexes()

    def coverage(self) -> Coverage:
        """How many papers the vector indexes hold, of how many in the store (the count is cached a few
        seconds: it is shown with every search)."""
        now = time.monotonic()
        if self._papers_counted is None or now - self._papers_counted[0] > 5.0:
            self._papers_counted = (now, count_papers(self.engine))
        idx, _ = self.usable_indexes()
        return Coverage(indexed=idx.manifest.count if idx is not None else 0, papers=self._papers_counted[1])

    def encode_query(self, query: str) -> Encoded:
        return self.retriever.encode_query(query)

    # -- the public entry point -------------------------------------------------------------------------

    def search(self, query: str, *, mode: Mode = "hybrid", k: int = 10, offset: int = 0,
               filters: SearchFilters | None = None, threshold: float | None = None,
               encoded: Encoded | None = None) -> SearchResult:
        """Rank papers for `query`. See `paperscope.search.search` for the meaning of each argument."""
        run = self._start(query, mode, k, offset, filters, threshold, encoded)
        self._collect(run)
        ranked = self._fuse(run)
        ranked, no_good_answer = self._threshold(run, ranked)
        visible = self._hide(ranked)
        return self._page(run, visible, no_good_answer)

    # -- the steps ---------------------------------------------------------------------------------------

    def _start(self, query: str, mode: Mode, k: int, offset: int, filters: SearchFilters | None,
               threshold: float | None, encoded: Encoded | None) -> _Search:
        """Check the request, pick the mode that can run (vector modes fall back to bm25 without a usable
        index) and encode the query."""
        if mode not in MODES:
            raise ValueError(f"unknown search mode {mode!r}; choose one of {', '.join(MODES)}")
        k, offset = max(0, k), max(0, offset)
        need = min(self.config.max_depth, offset + k)
        idx, why_not = self.usable_indexes() if mode in VECTOR_MODES else (None, None)
        used: Mode = "bm25" if mode in VECTOR_MODES and idx is None else mode
        depth = max(need, self.config.fusion_depth) if used == "hybrid" else max(need, 1)
        run = _Search(query=query, used=used, k=k, offset=offset, filters=_to_text_filters(filters),
                      threshold=threshold, idx=idx, depth=depth, started=time.perf_counter())
        if used != mode:
            run.notes.append(f"{why_not}: {mode} fell back to bm25")
        if used in VECTOR_MODES and not self.profile.tuned:
            run.notes.append(untuned_note(self.model_name))
        if used != "bm25" and query.strip():
            run.q = encoded if encoded is not None else self.encode_query(query)
            run.timings["encode"] = (time.perf_counter() - run.started) * 1000
        return run

    def _weights(self) -> dict[str, float]:
        """Hybrid's weight per list under the configured fusion."""
        return self.config.zscore_weights if self.config.fusion == "zscore" else self.config.weights

    def _collect(self, run: _Search) -> None:
        """Each list the mode needs (hybrid: every list with a weight; bm25 on a pool thread beside the
        vector searches), plus the pooled-vector list a threshold is calibrated on."""
        names = [n for n in LIST_NAMES if run.used in (n, "hybrid")
                 and not (run.used == "hybrid" and self._weights().get(n, 0.0) <= 0)]
        pool = self.retriever.pool
        bm25_future: Future[tuple[Ranked, float]] | None = None
        if "bm25" in names and run.used == "hybrid" and run.q is not None and pool is not None:
            bm25_future = pool.submit(self._timed_bm25, run)
            names.remove("bm25")
        for name in names:
            t = time.perf_counter()
            self._collect_one(run, name)
            run.timings[name] = (time.perf_counter() - t) * 1000
        if bm25_future is not None:
            run.lists["bm25"], run.timings["bm25"] = bm25_future.result()
            run.lists = {name: run.lists[name] for name in LIST_NAMES if name in run.lists}
        if (run.threshold is not None and "dense" not in run.lists and run.q is not None
                and run.idx is not None):
            # The threshold is calibrated on pooled-vector cosine: fetch it for late mode too.
            depth = max(run.depth, self.config.fusion_depth)
            run.lists["dense"] = self.retriever.dense(run.q.pooled, depth, run.filters, idx=run.idx)

    def _collect_one(self, run: _Search, name: str) -> None:
        if name == "bm25":
            run.lists[name] = self.retriever.bm25(run.query, run.depth, run.filters)
        elif run.q is not None and run.idx is not None and name == "dense":
            run.lists[name] = self._dense(run, run.depth)
        elif run.q is not None and run.idx is not None:
            candidates = self.config.hybrid_late_candidates if run.used == "hybrid" else None
            run.lists[name] = self._late(run, candidates)

    def _timed_bm25(self, run: _Search) -> tuple[Ranked, float]:
        t = time.perf_counter()
        ranked = self.retriever.bm25(run.query, run.depth, run.filters)
        return ranked, (time.perf_counter() - t) * 1000

    def _dense(self, run: _Search, depth: int) -> Ranked:
        if depth not in run.pooled_memo:
            assert run.q is not None
            run.pooled_memo[depth] = self.retriever.dense(run.q.pooled, depth, run.filters, idx=run.idx)
        return run.pooled_memo[depth]

    def _late(self, run: _Search, n_candidates: int | None) -> Ranked:
        """Late interaction: FDE candidates (and the pooled HNSW's) re-ranked by exact MaxSim."""
        assert run.q is not None
        # Late mode fills its whole depth; inside hybrid the late list may be shorter than the fusion depth.
        assert run.idx is not None
        wanted = n_candidates if n_candidates is not None else self.config.late_candidates
        n = self.config.candidate_depth(wanted, len(run.idx.fde_ann))
        if n_candidates is None:
            n = max(run.depth, n)
        candidates = self.retriever.fde_candidates(run.q.tokens, n, run.filters, idx=run.idx)
        if self.config.late_pooled_candidates:
            # The FDE alone misses some exact-MaxSim winners (SciFact train); the pooled HNSW is cheap
            # and finds most of the rest, so both candidate sets go to the exact re-rank.
            candidates = list(dict.fromkeys(candidates + self._dense(run, n).ids))
        return self.retriever.late(run.q.tokens, candidates, run.depth, idx=run.idx)

    def _fuse(self, run: _Search) -> Ranked:
        """Hybrid: one list from the collected ones (rank or z-score fusion); other modes: their list."""
        if run.used != "hybrid":
            return run.lists.get(run.used, Ranked([], []))
        t = time.perf_counter()
        if self.config.fusion == "zscore":
            fused = zscore_fusion({n: (r.ids, r.scores) for n, r in run.lists.items()}, self._weights())
        else:
            fused = reciprocal_rank_fusion({n: r.ids for n, r in run.lists.items()}, self.config.weights,
                                           self.config.rrf_k)
        run.timings["fusion"] = (time.perf_counter() - t) * 1000
        return Ranked([i for i, _ in fused], [s for _, s in fused])

    def _threshold(self, run: _Search, ranked: Ranked) -> tuple[Ranked, bool]:
        """Drop hits whose calibrated P(relevant) is below the threshold: (kept, whether none was good)."""
        if run.threshold is None or not ranked.ids:
            return ranked, False
        calibration = self.calibration
        if calibration is None:
            run.notes.append(f"no relevance threshold is calibrated for model {self.model_name!r}; "
                             "threshold ignored")
            return ranked, False
        components = run.components()
        hits = [self._hit(components, i, s) for i, s in ranked.pairs()]
        idx = run.idx
        has_vector = (lambda rowid: rowid in idx.pooled) if idx is not None else None
        kept = calibration.apply(hits, run.used, run.threshold, components, run.query, has_vector)
        if kept is None:
            run.notes.append(f"no relevance threshold is calibrated for {run.used} mode; threshold ignored")
            return Ranked([h.rowid for h in hits], [h.score for h in hits]), False
        run.notes.extend(_threshold_notes(hits, kept, components, has_vector))
        return Ranked([h.rowid for h in kept], [h.score for h in kept]), not kept

    def _hide(self, ranked: Ranked) -> Ranked:
        """Papers a moderator hid leave search as they leave every listing (one indexed query)."""
        hidden = hidden_among(self.engine, ranked.ids)
        kept = [(i, s) for i, s in ranked.pairs() if i not in hidden]
        return Ranked([i for i, _ in kept], [s for _, s in kept])

    def _page(self, run: _Search, ranked: Ranked, no_good_answer: bool) -> SearchResult:
        """The requested page as hits with their papers, component scores and matched words."""
        components = run.components()
        # Only the page returned becomes SearchHit objects (a fused list holds a few hundred ids).
        hits = [self._hit(components, i, s) for i, s in ranked.pairs()[run.offset:run.offset + run.k]]
        page = self._attach_papers(run.query, hits)
        run.timings["total"] = (time.perf_counter() - run.started) * 1000
        return SearchResult(query=run.query, mode=run.used, hits=page, offset=run.offset,
                            total=len(ranked.ids), no_good_answer=no_good_answer, timings_ms=run.timings,
                            notes=run.notes, coverage=self.coverage())

    @staticmethod
    def _hit(components: dict[str, dict[int, float]], rowid: int, score: float) -> SearchHit:
        return SearchHit(rowid=rowid, paper_id="", score=score,
                         components={n: c[rowid] for n, c in components.items() if rowid in c})

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
