"""Relevance thresholds: turn a hit's raw similarity into P(relevant) and drop hits below a cutoff.

The calibrated score is a logistic function of the query-paper cosine similarity of the pooled
vectors (the one score that is comparable across queries; BM25 and RRF scores are not). Its two
parameters were fitted on the SciFact *train* split (never test, never holdout) by
`benchmarks/search_quality.py --calibrate`: for every train query, the top-20 dense hits labelled
relevant/not by the train qrels, then a one-feature logistic regression (`fit_logistic`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from paperscope.index.profiles import MINILM
from paperscope.search.types import SearchHit

# Fitted on SciFact train with the bundled all-MiniLM-L6-v2 (see module docstring), kept in its profile:
# 16,180 pairs, 773 relevant; P(relevant) = 0.5 at cosine 0.74. Another model has its own or none.
assert MINILM.calibration is not None
BUNDLED_SLOPE, BUNDLED_INTERCEPT = MINILM.calibration


@dataclass(frozen=True)
class Calibration:
    """P(relevant | cosine) = 1 / (1 + exp(-(slope * cosine + intercept)))."""

    slope: float
    intercept: float

    @classmethod
    def bundled(cls) -> Calibration:
        return cls(BUNDLED_SLOPE, BUNDLED_INTERCEPT)

    def probability(self, cosine: float) -> float:
        z = self.slope * cosine + self.intercept
        return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))

    def apply(self, hits: Sequence[SearchHit], mode: str, threshold: float,
              components: Mapping[str, Mapping[int, float]], query: str = "",
              has_vector: Callable[[int], bool] | None = None) -> list[SearchHit] | None:
        """The hits whose P(relevant) is at least `threshold`, in their order; None when `mode` has no
        cosine to calibrate (bm25).

        In hybrid mode a paper the dense list did not reach gets the lowest cosine that list holds:
        an upper bound on its own, so the threshold never drops it for want of a score. A paper with
        no vector at all (`has_vector` says so: ingested since the last `paperscope index`) was never
        scored and is kept. Short queries score lower cosines against the papers on their topic than
        the claim-like queries the curve was fitted on, so their cosines are raised first
        (`short_query_lift`).
        """
        dense = components.get("dense")
        if mode == "bm25" or not dense:
            return None
        floor = min(dense.values())
        lift = short_query_lift(query)

        def keep(h: SearchHit) -> bool:
            if h.rowid not in dense and has_vector is not None and not has_vector(h.rowid):
                return True
            return self.probability(dense.get(h.rowid, floor) + lift) >= threshold
        return [h for h in hits if keep(h)]


_STOPWORDS = frozenset(["a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "in", "into", "is",
                        "of", "on", "or", "the", "to", "via", "with"])
_WORDS = re.compile(r"[^\W_]+", re.UNICODE)


def short_query_lift(query: str) -> float:
    """How much to raise a query's cosines before calibrating: 0.15 for one content word, 0.03 less per
    further word, none from six words on.

    Measured with the bundled model: one-word queries score 0.36-0.64 against papers on their topic
    and at most 0.26 against others ("transformer", "galaxies", "robot", "inflation"), while the curve
    (fitted on long SciFact claims) puts P(relevant) 0.02 at cosine 0.46 and dropped them all;
    four-word queries land 0.42-0.53 on topic, 0.39 on a neighbouring one.
    """
    words = [w for w in _WORDS.findall(query.lower()) if w not in _STOPWORDS]
    return max(0.0, 0.18 - 0.03 * len(words)) if words else 0.0


def fit_logistic(features: Sequence[float], labels: Sequence[int], iterations: int = 50) -> Calibration:
    """Maximum-likelihood logistic regression on one feature (Newton's method, slight L2 for stability)."""
    x = np.asarray(features, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    design = np.stack([x, np.ones_like(x)], axis=1)
    w = np.zeros(2)
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(design @ w, -60, 60)))
        grad = design.T @ (p - y) + 1e-3 * w
        hess = design.T @ (design * (p * (1 - p))[:, None]) + 1e-3 * np.eye(2)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-9:
            break
    return Calibration(slope=float(w[0]), intercept=float(w[1]))
