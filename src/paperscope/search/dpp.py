"""Diverse re-ranking: greedy MAP inference for a determinantal point process (DPP).

Chen, Zhang & Zhou (2018), "Fast Greedy MAP Inference for Determinantal Point Process to Improve
Recommendation Diversity". The greedy step adds the item that most increases log det(L_Y); an
incremental Cholesky factor makes each step O(k·M) for M candidates instead of a fresh determinant.

Kernel. L = diag(q)·S·diag(q). By default S is the Laplacian kernel exp(-‖u_i - u_j‖ / 0.5) of the
candidates' L2-normalised pooled vectors u (positive definite, unit diagonal; ‖u_i - u_j‖ = sqrt(2 - 2 cos)),
and the quality comes from the candidate's rank i in relevance order (0 = best):

    log q_i = exp((D - i) / τ),   τ = 0.35,   D = 2θ / (1 - θ)

so the first ~D candidates are kept in relevance order (their quality outweighs any diversity gain) and
the rest of the list is filled for diversity from the whole candidate pool, where relevance barely
counts. θ = 1 is the relevance order (D = ∞); θ = 0.7 keeps about the first 4-5; θ = 0 is almost pure
diversity. Why this shape: on SciFact (benchmarks/diversity.py, every choice made on train, DPP and MMR
given the same menu of relevance transforms and kernels) it gave a top 10 with lower intra-list
similarity than the best MMR at the same nDCG@10 on test (about -0.009 ILS@10 averaged over 0.5-3
points of nDCG loss, 95% bootstrap interval excluding 0), where the earlier kernel (cosine S, q =
exp(α·r) with r the min-max scaled score, α = θ / (2(1-θ))) was no better than MMR. That earlier
variant is kept as `relevance="score"`, `kernel="cosine"`.

Because log det(L_Y) = 2·Σ_{i∈Y} log q_i + log det(S_Y), the greedy gain of item i is 2·log q_i + log d_i²
where d_i² is i's Cholesky residual in S alone. We therefore factor S and add the quality term in log
space: the same choices as factoring L, without overflow (q itself would be astronomically large).

When every remaining residual is ~0 (the rest are duplicates of, or spanned by, what was picked) the
greedy stops and the remaining candidates follow in relevance order: duplicates are pushed down, never
dropped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

import numpy as np

from paperscope.index.retriever import pooled_vectors  # noqa: F401 (also dpp's public name)
from paperscope.search.mmr import mmr_order
from paperscope.search.similarity import cosine_similarity, scaled_relevance  # also dpp's public names
from paperscope.search.types import Mode, SearchFilters, SearchHit, SearchResult

if TYPE_CHECKING:
    from paperscope.search.engine import SearchEngine

# Residuals below this are numerically zero: the candidate adds no new direction.
_EPS = 1e-9
DEFAULT_THETA = 0.7
# Chosen on SciFact train (benchmarks/diversity.py): steepness of the rank-based quality, Laplacian scale.
RANK_TAU = 0.35
LAPLACE_SCALE = 0.5
# Past this exponent a quality already outweighs every possible diversity gain (log d² >= log 1e-9 ≈ -21):
# larger ones are kept apart linearly instead of overflowing exp, which preserves their order.
_Z_CAP = 40.0
Relevance = Literal["rank", "score"]
Kernel = Literal["laplacian", "cosine"]


def laplacian_similarity(vectors: np.ndarray, scale: float = LAPLACE_SCALE) -> np.ndarray:
    """exp(-‖u_i - u_j‖ / scale) of the L2-normalised rows: positive definite with a unit diagonal.

    Unlike cosine it penalises a moderately similar pair nearly in proportion to the similarity, which is
    what intra-list similarity measures. A zero row is unlike everything else, as in `cosine_similarity`.
    """
    cos = cosine_similarity(vectors)
    sims = np.exp(-np.sqrt(np.maximum(2.0 - 2.0 * cos, 0.0)) / scale)
    zero = np.linalg.norm(np.asarray(vectors, dtype=np.float64), axis=1) == 0
    sims[zero, :] = 0.0
    sims[:, zero] = 0.0
    np.fill_diagonal(sims, 1.0)
    return sims


def protected_depth(theta: float) -> float:
    """D = 2θ / (1-θ): roughly how many top candidates keep their place; inf at θ = 1."""
    if not 0.0 <= theta <= 1.0:
        raise ValueError(f"theta must be in [0, 1], got {theta}")
    return math.inf if theta >= 1.0 else 2.0 * theta / (1.0 - theta)


def rank_log_quality(m: int, theta: float, tau: float = RANK_TAU) -> np.ndarray:
    """log q_i = exp((D - i) / τ) for ranks i = 0..m-1 (see the module docstring); decreasing in i."""
    z = (protected_depth(theta) - np.arange(m, dtype=np.float64)) / tau
    return np.exp(np.minimum(z, _Z_CAP)) + 1e3 * np.maximum(z - _Z_CAP, 0.0)


def alpha_for(theta: float) -> float:
    """The exponent α = θ / (2(1-θ)) of `relevance="score"`'s quality q_i = exp(α r_i); inf at θ = 1."""
    if not 0.0 <= theta <= 1.0:
        raise ValueError(f"theta must be in [0, 1], got {theta}")
    return math.inf if theta >= 1.0 else theta / (2.0 * (1.0 - theta))


def greedy_map(similarity: np.ndarray, k: int, log_quality: np.ndarray | None = None) -> list[int]:
    """Greedy MAP of the DPP with kernel diag(q)·S·diag(q), q = exp(log_quality) (all ones if None).

    Returns up to `k` indices in the order chosen. Candidates whose residual is ~0 are never chosen
    by the greedy; the caller decides what follows them (see `dpp_order`). Ties go to the lower index.
    """
    s = np.asarray(similarity, dtype=np.float64)
    m = s.shape[0]
    k = min(k, m)
    lq = np.zeros(m) if log_quality is None else np.asarray(log_quality, dtype=np.float64)
    if k <= 0:
        return []
    factors = np.zeros((k, m))  # row t: the t-th column of the incremental Cholesky factor, per item
    residual = np.diag(s).copy()  # d_i^2: what item i adds to the determinant given the chosen set
    available = np.ones(m, dtype=bool)
    chosen: list[int] = []
    for t in range(k):
        with np.errstate(divide="ignore", invalid="ignore"):
            gain = np.where(available & (residual > _EPS), 2.0 * lq + np.log(np.maximum(residual, _EPS)),
                            -np.inf)
        j = int(np.argmax(gain))
        if not np.isfinite(gain[j]):
            break
        chosen.append(j)
        available[j] = False
        if t + 1 == k:
            break
        # Chen et al. Alg. 1: e_i = (S_ji - <c_j, c_i>) / d_j; c_i gets e_i appended; d_i^2 -= e_i^2.
        e = (s[j] - factors[:t, j] @ factors[:t]) / math.sqrt(residual[j])
        factors[t] = e
        residual = residual - e * e
    return chosen


def dpp_order(scores: Sequence[float] | np.ndarray, vectors: np.ndarray | None, theta: float = DEFAULT_THETA,
              k: int | None = None, *, similarity: np.ndarray | None = None, relevance: Relevance = "rank",
              kernel: Kernel = "laplacian") -> list[int]:
    """Re-rank candidates for relevance and diversity; returns positions into `scores`, best first.

    The first `k` (default: all) positions come from the DPP greedy at trade-off `theta`; if the greedy
    stops early (everything left is redundant) the rest follow in relevance order. `relevance="rank"`
    (default) derives quality from the rank, `"score"` from the min-max scaled score with q = exp(α·r);
    `kernel` picks S from `vectors`. `similarity` (a PSD matrix with unit diagonal) replaces S when
    given, e.g. to reuse it across θ.
    """
    rel = scaled_relevance(scores)
    m = len(rel)
    k = m if k is None else min(k, m)
    by_relevance = [int(i) for i in np.argsort(-rel, kind="stable")]
    if relevance == "rank":
        if math.isinf(protected_depth(theta)) or m == 0:
            return by_relevance
        log_quality = np.empty(m)
        log_quality[by_relevance] = rank_log_quality(m, theta)
    elif relevance == "score":
        alpha = alpha_for(theta)
        if math.isinf(alpha) or m == 0:
            return by_relevance
        log_quality = alpha * rel
    else:
        raise ValueError(f"unknown relevance {relevance!r}; choose rank or score")
    if similarity is not None:
        sims = similarity
    elif kernel == "laplacian":
        sims = laplacian_similarity(_required(vectors))
    elif kernel == "cosine":
        sims = cosine_similarity(_required(vectors))
    else:
        raise ValueError(f"unknown kernel {kernel!r}; choose laplacian or cosine")
    picked = greedy_map(sims, k, log_quality=log_quality)
    seen = set(picked)
    return picked + [i for i in by_relevance if i not in seen]


def _required(vectors: np.ndarray | None) -> np.ndarray:
    if vectors is None:
        raise ValueError("pass either vectors or a similarity matrix")
    return vectors


def intra_list_similarity(vectors: np.ndarray) -> float:
    """Mean pairwise cosine similarity of a list of vectors (0 for fewer than two)."""
    n = len(vectors)
    if n < 2:
        return 0.0
    sims = cosine_similarity(vectors)
    return float((sims.sum() - np.trace(sims)) / (n * (n - 1)))


def diversify(hits: Sequence[SearchHit], vectors: dict[int, np.ndarray], *, theta: float = DEFAULT_THETA,
              method: str = "dpp", k: int | None = None) -> list[SearchHit]:
    """Re-order ranked hits (best first) with the DPP (or `method="mmr"`, θ used as MMR's λ).

    Hits whose paper has no vector are treated as unlike every other hit.
    """
    if len(hits) < 2:
        return list(hits)
    dim = next((len(v) for v in vectors.values()), 1)
    matrix = np.stack([vectors.get(h.rowid, np.zeros(dim, dtype=np.float32)) for h in hits])
    scores = [h.score for h in hits]
    if method == "dpp":
        order = dpp_order(scores, matrix, theta, k)
    elif method == "mmr":
        order = mmr_order(scores, matrix, theta, k)
    else:
        raise ValueError(f"unknown diversity method {method!r}; choose dpp or mmr")
    return [hits[i] for i in order]


def search_diverse(search_engine: SearchEngine, query: str, *, mode: Mode = "hybrid", k: int = 10,
                   offset: int = 0, filters: SearchFilters | None = None, threshold: float | None = None,
                   theta: float = DEFAULT_THETA, candidates: int = 100, method: str = "dpp") -> SearchResult:
    """`SearchEngine.search` with the top `candidates` re-ranked for diversity before paging.

    Diversity needs pooled vectors: without a vector index the relevance order is kept (with a note).
    """
    depth = max(candidates, offset + k)
    result = search_engine.search(query, mode=mode, k=depth, filters=filters, threshold=threshold)
    retriever = search_engine.retriever
    idx = retriever.indexes
    hits = result.hits
    if idx is None:
        result.notes.append("no vector index yet: results are not diversified")
    else:
        hits = diversify(hits, retriever.pooled_vectors([h.rowid for h in hits], idx=idx), theta=theta,
                         method=method, k=offset + k)
    result.hits = hits[offset:offset + k]
    result.offset = offset
    return result
