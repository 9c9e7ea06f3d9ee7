"""Combining ranked lists: weighted reciprocal-rank fusion."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

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
