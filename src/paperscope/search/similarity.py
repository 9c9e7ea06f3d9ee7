"""The two scales the diversity re-rankers share (`dpp.py` and `mmr.py`): relevance min-max scaled to
[0, 1] and pairwise cosine similarity. Kept apart so that neither re-ranker imports the other's module
for them (no import cycle)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def scaled_relevance(scores: Sequence[float] | np.ndarray) -> np.ndarray:
    """Scores min-max scaled to [0, 1] (all ones when they are all equal)."""
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    if len(s) == 0:
        return s
    lo, hi = float(s.min()), float(s.max())
    if hi - lo <= 0 or not math.isfinite(hi - lo):
        return np.ones_like(s)
    return (s - lo) / (hi - lo)


def cosine_similarity(vectors: np.ndarray) -> np.ndarray:
    """Pairwise cosine similarity of the rows of `vectors`.

    A zero row (a paper without a vector) is treated as unlike anything else: similarity 0 to every
    other row and 1 to itself, so the DPP neither favours nor buries it.
    """
    v = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    v = np.divide(v, norms, out=np.zeros_like(v), where=norms > 0)
    sims = v @ v.T
    np.fill_diagonal(sims, 1.0)
    return sims
