"""A search engine's settings: the engine's own knobs and the values tuned per model (`index/profiles.py`)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any, Literal

from paperscope.index.profiles import RetrievalProfile


@dataclass(frozen=True)
class SearchConfig:
    """Depths and fusion weights. The defaults are the bundled MiniLM's profile, tuned on SciFact *train*
    (benchmarks/search_quality.py); `from_profile` gives another model's (or the neutral defaults)."""

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
    # Both candidate depths above hold for an index of `late_reference_papers`; a larger index puts more
    # near neighbours around each query, so the same depth catches less of the exact top 10 (stand-in
    # indexes, depth 800: recall@10 0.855 at 75k, 0.70 at 250k, 0.61 at 500k, 0.51 at 1M). The depth
    # that keeps it at 0.855 grew as N ** 0.78 from 75k to 1M, so both depths grow as
    # (papers / reference) ** 0.8, up to `late_candidates_max` per list, which bounds a late query's cost
    # (docs/scaling.md).
    late_reference_papers: int = 75_000
    late_depth_growth: float = 0.8
    late_candidates_max: int = 6400
    # Also re-rank the pooled-vector HNSW's top candidates (see SearchEngine._late).
    late_pooled_candidates: bool = True
    # HNSW beam width (None: the index default, usearch's 64).
    ef: int | None = 256
    # Largest result depth any mode returns (bounds `total` and paging).
    max_depth: int = 1000
    # Threads one query may use (None: one per core; 1: everything on the caller's thread).
    threads: int | None = None

    def candidate_depth(self, depth: int, indexed: int) -> int:
        """`depth` candidates for an index of the reference size, scaled up for a larger one."""
        if indexed <= self.late_reference_papers or self.late_depth_growth <= 0:
            return depth
        grown = math.ceil(depth * (indexed / self.late_reference_papers) ** self.late_depth_growth)
        return max(depth, min(grown, self.late_candidates_max))

    @classmethod
    def from_profile(cls, profile: RetrievalProfile, **changes: Any) -> SearchConfig:
        """The profile's tuned values with the engine's defaults for the rest; `changes` override both."""
        tuned = {f.name: getattr(profile, f.name) for f in fields(cls) if hasattr(profile, f.name)}
        tuned["weights"] = dict(profile.weights)
        tuned["zscore_weights"] = dict(profile.zscore_weights)
        return cls(**{**tuned, **changes})
