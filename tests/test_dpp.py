"""DPP greedy MAP (Chen et al. 2018) against brute force, its θ knob, and the MMR baseline."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from paperscope.search.dpp import (
    alpha_for,
    cosine_similarity,
    diversify,
    dpp_order,
    greedy_map,
    intra_list_similarity,
    laplacian_similarity,
    rank_log_quality,
)
from paperscope.search.mmr import mmr_order
from paperscope.search.types import SearchHit


def brute_force_greedy(kernel: np.ndarray, k: int) -> list[int]:
    """Greedy MAP the slow way: at each step the item maximising log det of the chosen sub-kernel."""
    return brute_force_greedy_log(kernel, np.zeros(len(kernel)), k)


def brute_force_greedy_log(sims: np.ndarray, log_quality: np.ndarray, k: int) -> list[int]:
    """The same, with log det(diag(q)·S·diag(q)) = 2·Σ log q + log det S written out (q overflows exp)."""
    chosen: list[int] = []
    for _ in range(k):
        best, best_value = None, -np.inf
        for i in range(len(sims)):
            if i in chosen:
                continue
            idx = chosen + [i]
            sign, logdet = np.linalg.slogdet(sims[np.ix_(idx, idx)])
            value = 2.0 * float(log_quality[idx].sum()) + logdet
            if sign > 0 and value > best_value + 1e-9:
                best, best_value = i, value
        if best is None:
            break
        chosen.append(best)
    return chosen


def random_items(rng: np.random.Generator, m: int, dim: int) -> tuple[np.ndarray, np.ndarray]:
    vectors = rng.normal(size=(m, dim))
    scores = rng.uniform(0, 5, size=m)
    return vectors, scores


@pytest.mark.parametrize("seed", range(8))
def test_greedy_matches_brute_force_log_det(seed: int) -> None:
    rng = np.random.default_rng(seed)
    m, dim, k = 12, 16, 6
    vectors, _ = random_items(rng, m, dim)
    quality = rng.uniform(0.5, 2.0, size=m)
    sims = cosine_similarity(vectors)
    kernel = quality[:, None] * sims * quality[None, :]
    assert greedy_map(sims, k, log_quality=np.log(quality)) == brute_force_greedy(kernel, k)


@pytest.mark.parametrize("theta", [0.2, 0.5, 0.8])
def test_theta_kernel_matches_brute_force(theta: float) -> None:
    """dpp_order's default picks what log det(diag(q)·S·diag(q)) picks: S Laplacian, q from the rank."""
    rng = np.random.default_rng(42)
    vectors, scores = random_items(rng, 10, 12)
    by_rank = np.argsort(-scores)
    log_q = np.empty(10)
    log_q[by_rank] = rank_log_quality(10, theta)
    expected = brute_force_greedy_log(laplacian_similarity(vectors), log_q, 5)
    assert dpp_order(scores, vectors, theta, k=5)[:5] == expected


@pytest.mark.parametrize("theta", [0.2, 0.5, 0.8])
def test_score_relevance_with_cosine_matches_brute_force(theta: float) -> None:
    """The earlier variant, still available: q = exp(α r) with r the min-max scaled score, S cosine."""
    rng = np.random.default_rng(42)
    vectors, scores = random_items(rng, 10, 12)
    rel = (scores - scores.min()) / (scores.max() - scores.min())
    q = np.exp(alpha_for(theta) * rel)
    kernel = q[:, None] * cosine_similarity(vectors) * q[None, :]
    got = dpp_order(scores, vectors, theta, k=5, relevance="score", kernel="cosine")
    assert got[:5] == brute_force_greedy(kernel, 5)


def test_laplacian_kernel_is_positive_definite_with_unit_diagonal() -> None:
    rng = np.random.default_rng(7)
    vectors = np.vstack([rng.normal(size=(30, 8)), np.zeros((1, 8))])  # the last paper has no vector
    sims = laplacian_similarity(vectors)
    assert np.allclose(np.diag(sims), 1.0)
    assert np.allclose(sims[-1, :-1], 0.0)
    assert np.linalg.eigvalsh(sims).min() > 0


def test_theta_sets_how_many_top_results_keep_their_place() -> None:
    """Higher θ keeps a longer prefix of the relevance order; lower θ diversifies sooner."""
    rng = np.random.default_rng(13)
    topic = rng.normal(size=64)
    # Twenty near-copies of one topic rank first, then twenty unrelated papers.
    vectors = np.vstack([topic + 0.3 * rng.normal(size=(20, 64)), rng.normal(size=(20, 64))])
    scores = np.linspace(1.0, 0.0, 40)
    kept = []
    for theta in (0.3, 0.6, 0.8, 0.9):
        order = dpp_order(scores, vectors, theta, k=10)[:10]
        kept.append(next((i for i, j in enumerate(order) if j != i), 10))
    assert kept == sorted(kept) and kept[0] < kept[-1]


def test_theta_one_is_relevance_order() -> None:
    rng = np.random.default_rng(1)
    vectors, scores = random_items(rng, 30, 8)
    assert dpp_order(scores, vectors, theta=1.0) == list(np.argsort(-scores))
    # Close to 1 the quality term dominates every finite diversity gain on generic vectors.
    assert dpp_order(scores, vectors, theta=0.9999, k=10)[:10] == list(np.argsort(-scores))[:10]


def test_exact_duplicates_are_pushed_down_not_dropped() -> None:
    rng = np.random.default_rng(3)
    base = rng.normal(size=(6, 32))
    # Items 0-2 are the same paper three times (the most relevant ones), then five distinct papers.
    vectors = np.vstack([base[0], base[0], base[0], base[1:]])
    scores = np.array([1.0, 0.99, 0.98, 0.9, 0.8, 0.7, 0.6, 0.5])
    order = dpp_order(scores, vectors, theta=0.7)
    assert sorted(order) == list(range(8))
    assert order[0] == 0
    assert set(order[-2:]) == {1, 2}  # the copies come after every distinct paper
    assert order[1:6] == [3, 4, 5, 6, 7]


def test_near_duplicates_lower_intra_list_similarity_more_than_mmr_at_equal_relevance_cost() -> None:
    rng = np.random.default_rng(5)
    topics = rng.normal(size=(5, 64))
    # Four near-copies of topic 0 rank first, then one paper per other topic.
    vectors = np.vstack([topics[0] + 0.05 * rng.normal(size=(4, 64)), topics[1:]])
    scores = np.array([1.0, 0.98, 0.96, 0.94, 0.7, 0.68, 0.66, 0.64])
    top = dpp_order(scores, vectors, theta=0.2, k=5)[:5]
    assert intra_list_similarity(vectors[top]) < intra_list_similarity(vectors[:5])
    assert set(top) >= {4, 5, 6, 7}  # every other topic makes the top 5


def test_mmr_lambda_one_is_relevance_and_lower_lambda_diversifies() -> None:
    topics = np.eye(3)  # three unrelated topics
    vectors = np.vstack([topics[0], topics[0] + 0.01, topics[1], topics[2]])
    scores = np.array([1.0, 0.95, 0.5, 0.4])
    assert mmr_order(scores, vectors, lam=1.0) == [0, 1, 2, 3]
    assert mmr_order(scores, vectors, lam=0.5)[:3] == [0, 2, 3]


def test_bad_knobs_are_rejected() -> None:
    with pytest.raises(ValueError):
        dpp_order([1.0, 2.0], np.eye(2), theta=1.5)
    with pytest.raises(ValueError):
        mmr_order([1.0, 2.0], np.eye(2), lam=-0.1)


def test_diversify_keeps_every_hit_and_handles_papers_without_vectors() -> None:
    ranked = [(1, 3.0), (2, 2.9), (3, 2.0), (4, 1.0)]
    hits = [SearchHit(rowid=r, paper_id=f"p{r}", score=s) for r, s in ranked]
    v = np.array([1.0, 0.0, 0.0])
    vectors = {1: v, 2: v.copy(), 3: np.array([0.0, 1.0, 0.0])}  # 4 has no vector
    reranked = diversify(hits, vectors, theta=0.5)
    assert [h.rowid for h in reranked][:2] == [1, 3]
    assert sorted(h.rowid for h in reranked) == [1, 2, 3, 4]
    assert [h.rowid for h in diversify(hits, vectors, theta=1.0)] == [1, 2, 3, 4]


@pytest.mark.parametrize("seed", range(4))
def test_greedy_matches_brute_force_on_a_non_cosine_psd_kernel(seed: int) -> None:
    """The greedy only needs S positive semi-definite with unit diagonal, e.g. a sharpened exp((cos-1)/σ)."""
    rng = np.random.default_rng(100 + seed)
    vectors, scores = random_items(rng, 25, 8)
    sims = np.exp((cosine_similarity(vectors) - 1.0) / 0.2)
    rel = (scores - scores.min()) / (scores.max() - scores.min())
    q = np.exp(alpha_for(0.6) * rel)
    kernel = q[:, None] * sims * q[None, :]
    got = dpp_order(scores, None, 0.6, k=8, similarity=sims, relevance="score")
    assert got[:8] == brute_force_greedy(kernel, 8)


def test_greedy_stops_at_the_rank_of_the_kernel_and_the_rest_follow_by_relevance() -> None:
    rng = np.random.default_rng(9)
    vectors, scores = random_items(rng, 9, 3)  # nine papers in a 3-dimensional space
    assert len(greedy_map(cosine_similarity(vectors), 6)) == 3
    order = dpp_order(scores, vectors, theta=0.5, k=6, kernel="cosine")
    assert sorted(order) == list(range(9))
    rest = order[3:]
    assert rest == sorted(rest, key=lambda i: -scores[i])


def test_a_given_similarity_matrix_is_the_same_as_the_vectors_kernel() -> None:
    rng = np.random.default_rng(11)
    vectors, scores = random_items(rng, 40, 16)
    sims = cosine_similarity(vectors)
    lap = laplacian_similarity(vectors)
    for knob in (0.3, 0.7, 0.95):
        assert dpp_order(scores, None, knob, 10, similarity=lap) == dpp_order(scores, vectors, knob, 10)
        assert mmr_order(scores, None, knob, 10, similarity=sims) == mmr_order(scores, vectors, knob, 10)
    with pytest.raises(ValueError):
        dpp_order(scores, None, 0.5)


def test_small_inputs() -> None:
    assert dpp_order([], np.zeros((0, 3))) == []
    assert dpp_order([1.0], np.ones((1, 3))) == [0]
    assert list(itertools.islice(dpp_order([1.0, 1.0], np.eye(2), k=1), 1)) == [0]
