"""DPP and MMR re-ranking of every query at once, and per-variant knob grids, for benchmarks/diversity.py.

The product re-rankers (search/dpp.py, search/mmr.py) work on one candidate list; a train sweep over a
menu of relevance transforms x kernels x dense knob grids needs ~10^6 re-ranks, so here the same greedy
steps run on a (queries, candidates) batch. `check_against_product` confirms the choices are identical.

Knobs are written as a diversity weight w >= 0 (0 = relevance order): the DPP uses α = 1/w in
q = exp(α·r), MMR uses λ = 1/(1+w). Each variant gets its own grid, refined until consecutive points differ
by at most `GAP` in mean nDCG@10 (the first step away from the relevance order included), so no variant
is judged by how coarsely its curve happened to be sampled.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from diversity_metrics import NEAR_DUP, kernel, relevance

from paperscope.search.dpp import dpp_order
from paperscope.search.mmr import mmr_order

GAP = 0.0015
_EPS = 1e-9


@dataclass
class Batch:
    """Every query's top-M candidates as arrays: scores, cosine matrices, judged gains, cluster labels."""

    scores: np.ndarray  # (Q, M), best first
    cos: np.ndarray  # (Q, M, M)
    gains: np.ndarray  # (Q, M) qrels grade of each candidate
    idcg: np.ndarray  # (Q,)
    labels: np.ndarray  # (Q, M) sub-topic of each candidate

    @classmethod
    def from_runs(cls, runs: list, qrels: dict, labels: np.ndarray, m: int) -> Batch:
        gains = np.array([[qrels[qid].get(d, 0) for d in ids[:m]] for qid, ids, *_ in runs], dtype=float)
        idcg = np.zeros(len(runs))
        for qi, (qid, *_rest) in enumerate(runs):
            ideal = sorted((g for g in qrels[qid].values() if g > 0), reverse=True)[:10]
            idcg[qi] = sum(g / np.log2(i + 2) for i, g in enumerate(ideal))
        return cls(np.stack([r[2][:m] for r in runs]), np.stack([r[4][:m, :m] for r in runs]), gains, idcg,
                   np.stack([labels[r[3][:m]] for r in runs]))


def minmax_rows(r: np.ndarray) -> np.ndarray:
    lo, hi = r.min(axis=1, keepdims=True), r.max(axis=1, keepdims=True)
    span = hi - lo
    return np.where(span > 0, (r - lo) / np.where(span > 0, span, 1.0), 1.0)


def dpp_batch(sims: np.ndarray, rel: np.ndarray, alpha: float, k: int = 10,
              window: int | None = None) -> np.ndarray:
    """Greedy MAP (log space, as search/dpp.py) for every query; (Q, k) positions. `window`: Chen et al.'s
    sliding window — an item's residual is taken against the last `window` chosen items only."""
    q, m, _ = sims.shape
    if np.isinf(alpha):
        return np.tile(np.arange(k), (q, 1))
    rows = np.arange(q)
    diag = np.diagonal(sims, axis1=1, axis2=2)
    residual = diag.copy()
    factors = np.zeros((q, k, m))
    available = np.ones((q, m), dtype=bool)
    stopped = np.zeros(q, dtype=bool)
    out = np.zeros((q, k), dtype=np.int64)
    for t in range(k):
        if window is not None and t > window:
            last = out[:, t - window:t]
            sub = sims[rows[:, None, None], last[:, :, None], last[:, None, :]]
            cross = sims[rows[:, None], last]  # (Q, w, M)
            solved = np.linalg.solve(sub + 1e-10 * np.eye(window), cross)
            residual = diag - (cross * solved).sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            gain = np.where(available & (residual > _EPS),
                            2.0 * alpha * rel + np.log(np.maximum(residual, _EPS)), -np.inf)
        j = np.argmax(gain, axis=1)
        stopped |= ~np.isfinite(gain[rows, j])
        j = np.where(stopped, np.argmax(available, axis=1), j)  # after a stop: relevance order
        out[:, t] = j
        available[rows, j] = False
        if t + 1 < k and (window is None or t + 1 <= window):
            prev = factors[rows, :t, j]
            e = (sims[rows, j] - np.einsum("qt,qtm->qm", prev, factors[:, :t])) \
                / np.sqrt(np.maximum(residual[rows, j], _EPS))[:, None]
            factors[:, t] = e
            residual = residual - e * e
    return out


def mmr_batch(sims: np.ndarray, rel: np.ndarray, lam: float, k: int = 10) -> np.ndarray:
    """MMR (as search/mmr.py) for every query; (Q, k) positions."""
    q, m, _ = sims.shape
    if lam >= 1.0:
        return np.tile(np.arange(k), (q, 1))
    rows = np.arange(q)
    closest = np.zeros((q, m))
    available = np.ones((q, m), dtype=bool)
    out = np.zeros((q, k), dtype=np.int64)
    for t in range(k):
        j = np.argmax(np.where(available, lam * rel - (1.0 - lam) * closest, -np.inf), axis=1)
        out[:, t] = j
        available[rows, j] = False
        closest = sims[rows, j] if t == 0 else np.maximum(closest, sims[rows, j])
    return out


def batch_measures(b: Batch, top: np.ndarray) -> np.ndarray:
    """(Q, 5) in diversity_metrics.MEASURES order: nDCG@10, ILS, max cos, near-dup pairs, sub-topics."""
    q, k = top.shape
    rows = np.arange(q)[:, None]
    dcg = (b.gains[rows, top] / np.log2(np.arange(k) + 2)).sum(axis=1)
    ndcg = np.where(b.idcg > 0, dcg / np.where(b.idcg > 0, b.idcg, 1.0), 0.0)
    off = b.cos[rows[:, :, None], top[:, :, None], top[:, None, :]][:, ~np.eye(k, dtype=bool)]
    labels = np.sort(b.labels[rows, top], axis=1)
    return np.stack([ndcg, off.mean(axis=1), off.max(axis=1), (off >= NEAR_DUP).sum(axis=1) / 2,
                     1.0 + (np.diff(labels, axis=1) != 0).sum(axis=1)], axis=1)


def run_weight(b: Batch, method: str, rel: np.ndarray, sims: np.ndarray, w: float,
               window: int | None = None) -> np.ndarray:
    if method == "dpp":
        top = dpp_batch(sims, rel, np.inf if w == 0 else 1.0 / w, 10, window)
    else:
        top = mmr_batch(sims, rel, 1.0 if w == 0 else 1.0 / (1.0 + w), 10)
    return batch_measures(b, top)


def variant_inputs(b: Batch, rel: str, ker: str) -> tuple[np.ndarray, np.ndarray]:
    r = minmax_rows(np.stack([relevance(rel, s) for s in b.scores]))
    return r, kernel(ker, b.cos)


def evaluate_refined(b: Batch, method: str, rel: str, ker: str, window: int | None = None,
                     weights: list[float] | None = None) -> tuple[list[float], np.ndarray]:
    """(weights, per-query measures (Q, knobs, 5)), weight 0 first. With `weights` given (e.g. the train
    grid, to run test with), exactly those; else logspace(-5, 3) refined as described above."""
    r, sims = variant_inputs(b, rel, ker)
    fixed = weights is not None
    grid = weights if fixed else [0.0, *np.logspace(-5, 3, 41).tolist()]
    got = {w: run_weight(b, method, r, sims, w, window) for w in grid}
    mean = {w: float(v[:, 0].mean()) for w, v in got.items()}
    for _ in range(0 if fixed else 14):  # shrink the first step until it is small too
        first = sorted(got)[1]
        if abs(mean[first] - mean[0.0]) <= GAP:
            break
        got[first / 10] = run_weight(b, method, r, sims, first / 10, window)
        mean[first / 10] = float(got[first / 10][:, 0].mean())
    for _ in range(0 if fixed else 5):
        ws = sorted(got)
        new = [float(np.sqrt(a * c)) for a, c in zip(ws[1:-1], ws[2:], strict=True)
               if abs(mean[c] - mean[a]) > GAP and mean[0.0] - max(mean[a], mean[c]) < 0.04]
        if not new:
            break
        for w in new:
            got[w] = run_weight(b, method, r, sims, w, window)
            mean[w] = float(got[w][:, 0].mean())
    ws = sorted(got)
    return ws, np.stack([got[w] for w in ws], axis=1)


def check_against_product(b: Batch, vectors_of: list[np.ndarray], thetas: tuple[float, ...]) -> int:
    """Queries (of len(b) x len(thetas)) where search/dpp.py's default dpp_order picks the same top 10
    as the batched exp(-rank/0.35) + Laplacian(0.5) variant at the same θ (α = exp(D/τ), D = 2θ/(1-θ))."""
    r, sims = variant_inputs(b, "exp0.35", "lap0.5")
    same = 0
    for theta in thetas:
        top = dpp_batch(sims, r, float(np.exp(2 * theta / (1 - theta) / 0.35)), 10)
        for qi, vecs in enumerate(vectors_of):
            same += dpp_order(b.scores[qi], vecs, theta, 10)[:10] == top[qi].tolist()
    return same


def mmr_check_against_product(b: Batch, lam: float = 0.7) -> bool:
    """The batched MMR on cosine with min-max scores equals search/mmr.py's."""
    top = mmr_batch(b.cos, minmax_rows(b.scores), lam, 10)
    return all(mmr_order(b.scores[qi], None, lam, 10, similarity=b.cos[qi])[:10] == top[qi].tolist()
               for qi in range(len(b.scores)))
