"""Redundancy measures, kernel variants and matched-quality comparison for benchmarks/diversity.py.

Kept apart from the driver so each file stays readable; nothing here touches the store or the index.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from paperscope.search.dpp import dpp_order
from paperscope.search.metrics import ndcg_at_k
from paperscope.search.mmr import mmr_order

# Cosine at or above which two papers count as near-duplicates (fixed before looking at test).
NEAR_DUP = 0.8
# The measures, in the order of `list_measures`; +1 = higher is better, -1 = lower is better.
MEASURES = ("ndcg", "ils", "max_sim", "dup_pairs", "clusters")
BETTER = {"ndcg": 1, "ils": -1, "max_sim": -1, "dup_pairs": -1, "clusters": 1}


# -- relevance transforms: each keeps the candidates' order, so θ = λ = 1 is always the same list ----

def relevance(name: str, scores: np.ndarray) -> np.ndarray:
    """Scores handed to the re-rankers (they min-max scale them to [0, 1] themselves)."""
    ranks = np.arange(len(scores), dtype=np.float64)  # candidates arrive best first
    if name == "minmax":
        return scores
    if name == "rank":
        return -ranks
    if name == "dcg":  # the DCG discount of the candidate's rank: steep at the top, flat in the tail
        return 1.0 / np.log2(ranks + 2.0)
    if name.startswith("exp"):  # exp(-rank/τ): with a large α only the first ~τ·ln α ranks count
        return np.exp(-ranks / float(name[3:]))
    raise ValueError(name)


# -- similarity kernels: all positive semi-definite with unit diagonal ------------------------------

def kernel(name: str, cos: np.ndarray) -> np.ndarray:
    """S for the re-rankers from the candidates' cosine matrix."""
    if name == "cos":
        return cos
    if name == "cos2":  # Schur square: PSD, shrinks moderate similarities, keeps near-duplicates
        return cos * cos
    if name.startswith("exp"):  # exp((cos - 1) / σ): PSD (a Schur-exponential of a Gram matrix)
        sigma = float(name[3:])
        return np.exp((cos - 1.0) / sigma)
    if name.startswith("shift"):  # (cos + c) / (1 + c): a Gram matrix plus c·(all ones), so PSD
        c = float(name[5:])
        return (cos + c) / (1.0 + c)
    if name.startswith("lap"):  # Laplacian exp(-‖u-v‖/s) of the unit vectors: positive definite
        return np.exp(-np.sqrt(np.maximum(2.0 - 2.0 * cos, 0.0)) / float(name[3:]))
    raise ValueError(name)


def spherical_kmeans(vectors: np.ndarray, k: int, seed: int = 0, iterations: int = 25) -> np.ndarray:
    """Cluster label of every row (cosine k-means, k-means++-style seeding); the 'sub-topics'."""
    rng = np.random.default_rng(seed)
    v = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    centres = [v[rng.integers(len(v))]]
    for _ in range(k - 1):
        dist = 1.0 - np.max(v @ np.array(centres).T, axis=1)
        p = np.maximum(dist, 0.0) ** 2
        centres.append(v[rng.choice(len(v), p=p / p.sum())])
    c = np.array(centres)
    labels = np.zeros(len(v), dtype=np.int64)
    for _ in range(iterations):
        labels = np.argmax(v @ c.T, axis=1)
        for j in range(k):
            members = v[labels == j]
            if len(members):
                m = members.sum(axis=0)
                c[j] = m / max(float(np.linalg.norm(m)), 1e-12)
    return labels


def list_measures(top: np.ndarray, cos: np.ndarray, ids: list[str], qrels: dict[str, int],
                  labels: np.ndarray) -> tuple[float, ...]:
    """nDCG@10 and the redundancy of one top-10 list (positions into the candidate list)."""
    sub = cos[np.ix_(top, top)]
    n = len(top)
    off = sub[~np.eye(n, dtype=bool)]
    return (ndcg_at_k([ids[i] for i in top], qrels, 10),
            float(off.mean()) if n > 1 else 0.0,
            float(off.max()) if n > 1 else 0.0,
            float((off >= NEAR_DUP).sum() / 2),
            float(len(set(labels[top].tolist()))))


def evaluate(runs: list, qrels: dict, labels_of: Callable[[np.ndarray], np.ndarray], method: str,
             rel: str, sim: str, knobs: tuple[float, ...]) -> np.ndarray:
    """Per-query measures, shape (queries, knobs, measures)."""
    out = np.zeros((len(runs), len(knobs), len(MEASURES)))
    for qi, (qid, ids, scores, rowpos, cos) in enumerate(runs):
        r = relevance(rel, scores)
        s = kernel(sim, cos)
        labels = labels_of(rowpos)
        for ki, knob in enumerate(knobs):
            if method == "dpp":  # the knob as the session-2 benchmark defined it: q = exp(α·minmax(r))
                top = np.array(dpp_order(r, None, knob, 10, similarity=s, relevance="score")[:10])
            else:
                top = np.array(mmr_order(r, None, knob, 10, similarity=s)[:10])
            out[qi, ki] = list_measures(top, cos, ids, qrels[qid], labels)
    return out


# -- comparing two knob curves at equal nDCG ------------------------------------------------------

def at_ndcg(ndcg: np.ndarray, values: np.ndarray, target: float, better: int) -> float:
    """A measure interpolated along a knob curve where its mean nDCG@10 equals `target`.

    Linear between consecutive knob settings; where the curve crosses `target` more than once, the best
    crossing counts (the Pareto front). NaN when the curve never reaches `target`.
    """
    found: list[float] = []
    for a in range(len(ndcg) - 1):
        n0, n1 = ndcg[a], ndcg[a + 1]
        if min(n0, n1) <= target <= max(n0, n1):
            w = 0.5 if n0 == n1 else (target - n0) / (n1 - n0)
            found.append(values[a] + w * (values[a + 1] - values[a]))
    if not found:
        return float("nan")
    return max(found) if better > 0 else min(found)


def matched(dpp: np.ndarray, mmr: np.ndarray, drops: tuple[float, ...], boot: int = 0,
            seed: int = 0) -> dict[str, np.ndarray]:
    """DPP minus MMR for every redundancy measure at nDCG@10 = (relevance-order nDCG - drop).

    `dpp`/`mmr` are per-query arrays from `evaluate` over the same queries (knob 0 must be 1.0, the
    relevance order). Returns measure -> array (1 + boot, drops): row 0 the observed difference, then
    paired bootstrap replicates (queries resampled with replacement, both methods together).
    """
    q = dpp.shape[0]
    rng = np.random.default_rng(seed)
    weights = [np.full(q, 1.0 / q)] + [rng.multinomial(q, np.full(q, 1.0 / q)) / q for _ in range(boot)]
    out = {m: np.full((len(weights), len(drops)), np.nan) for m in MEASURES[1:]}
    for b, w in enumerate(weights):
        dm = np.tensordot(w, dpp, axes=1)  # (knobs, measures)
        mm = np.tensordot(w, mmr, axes=1)
        base = dm[0, 0]
        for di, drop in enumerate(drops):
            for mi, m in enumerate(MEASURES[1:], start=1):
                out[m][b, di] = (at_ndcg(dm[:, 0], dm[:, mi], base - drop, BETTER[m])
                                 - at_ndcg(mm[:, 0], mm[:, mi], base - drop, BETTER[m]))
    return out


def front_score(per_query: np.ndarray, drops: tuple[float, ...]) -> float:
    """Mean ILS@10 over the nDCG levels `drops` below the relevance order (lower = better trade-off)."""
    mean = per_query.mean(axis=0)
    vals = [at_ndcg(mean[:, 0], mean[:, 1], mean[0, 0] - d, -1) for d in drops]
    return float(np.mean(vals)) if not np.isnan(vals).any() else float("inf")
