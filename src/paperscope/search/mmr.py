"""Maximal marginal relevance (Carbonell & Goldstein, 1998): the classic diversity baseline for the DPP.

Each step picks argmax_i  λ·r_i - (1-λ)·max_{j chosen} cos(i, j), with r the relevance min-max scaled to
[0, 1] over the candidates (as in dpp.py, so both knobs act on the same scale). λ = 1 is the relevance
order. MMR only looks at the single most similar chosen item, where the DPP's determinant accounts for
the whole chosen set at once.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from paperscope.search.similarity import cosine_similarity, scaled_relevance


def mmr_order(scores: Sequence[float] | np.ndarray, vectors: np.ndarray | None, lam: float = 0.7,
              k: int | None = None, *, similarity: np.ndarray | None = None) -> list[int]:
    """Re-rank candidates by MMR; returns positions into `scores`, best first (the first `k` chosen
    greedily, the rest in relevance order). `similarity` replaces the cosine of `vectors` when given."""
    if not 0.0 <= lam <= 1.0:
        raise ValueError(f"lambda must be in [0, 1], got {lam}")
    rel = scaled_relevance(scores)
    m = len(rel)
    k = m if k is None else min(k, m)
    by_relevance = [int(i) for i in np.argsort(-rel, kind="stable")]
    if lam >= 1.0 or m == 0:
        return by_relevance
    if similarity is not None:
        sims = similarity
    elif vectors is not None:
        sims = cosine_similarity(vectors)
    else:
        raise ValueError("pass either vectors or a similarity matrix")
    closest = np.full(m, -np.inf)  # max similarity to anything chosen so far
    available = np.ones(m, dtype=bool)
    chosen: list[int] = []
    for _ in range(k):
        penalty = np.where(np.isfinite(closest), closest, 0.0)
        value = np.where(available, lam * rel - (1.0 - lam) * penalty, -np.inf)
        j = int(np.argmax(value))
        chosen.append(j)
        available[j] = False
        closest = np.maximum(closest, sims[j])
    seen = set(chosen)
    return chosen + [i for i in by_relevance if i not in seen]
