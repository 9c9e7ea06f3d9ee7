"""Combining ranked lists: weighted reciprocal-rank fusion, or weighted sums of standardised scores."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

# The constant from Cormack et al. (2009): it damps the advantage of the very top ranks.
RRF_K = 60


def reciprocal_rank_fusion(rankings: Mapping[str, Sequence[int]], weights: Mapping[str, float],
                           k: int = RRF_K) -> list[tuple[int, float]]:
    """Fuse ranked lists of ids: score(d) = sum over lists of weight / (k + rank), rank from 1.

    Lists with weight 0 (or missing from `weights`) are ignored. Ties keep the order in which ids
    were first seen, so the result is deterministic. Returns [(id, fused score)], best first.
    """
    scores: dict[int, float] = {}
    for name, ranked in rankings.items():
        weight = weights.get(name, 0.0)
        if weight <= 0:
            continue
        for rank, item in enumerate(ranked, start=1):
            scores[item] = scores.get(item, 0.0) + weight / (k + rank)
    return sorted(scores.items(), key=lambda kv: -kv[1])


def zscore_fusion(rankings: Mapping[str, tuple[Sequence[int], Sequence[float]]],
                  weights: Mapping[str, float]) -> list[tuple[int, float]]:
    """Fuse scored lists: score(d) = sum over lists of weight * (standardised score of d in that list).

    Each list's scores are standardised over the list itself (mean 0, standard deviation 1), so BM25's
    unbounded scores, cosines and MaxSim sums become comparable; unlike rank fusion, a clear winner in
    one list keeps its margin. A paper a list did not return gets that list's lowest standardised score
    (it ranked below everything the list kept). Lists with weight 0 are ignored; ties keep the order in
    which ids were first seen. Returns [(id, fused score)], best first.
    """
    used = [(name, ids, scores) for name, (ids, scores) in rankings.items()
            if weights.get(name, 0.0) > 0 and len(ids)]
    standardised: list[tuple[float, dict[int, float], float]] = []
    for name, ids, scores in used:
        values = np.asarray(scores, dtype=np.float64)
        z = (values - values.mean()) / (values.std() or 1.0)
        standardised.append((weights[name], dict(zip(ids, z.tolist(), strict=True)), float(z.min())))
    seen = list(dict.fromkeys(i for _, ids, _ in used for i in ids))
    fused = [(i, sum(w * z.get(i, floor) for w, z, floor in standardised)) for i in seen]
    return sorted(fused, key=lambda kv: -kv[1])
