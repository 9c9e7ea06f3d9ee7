"""Retrieval metrics and rank fusion against hand-computed values."""

from __future__ import annotations

import math

import pytest

from paperscope.search.calibration import fit_logistic
from paperscope.search.fusion import reciprocal_rank_fusion, zscore_fusion
from paperscope.search.metrics import mrr_at_k, ndcg_at_k, percentile, recall_at_k


def test_ndcg_binary_by_hand() -> None:
    # One of two relevant docs, found at rank 2: DCG = 1/log2(3); ideal = 1 + 1/log2(3).
    expected = (1 / math.log2(3)) / (1 + 1 / math.log2(3))
    assert ndcg_at_k(["a", "b", "c"], {"b": 1, "d": 1}) == pytest.approx(expected)
    assert ndcg_at_k(["a", "b", "c"], {"b": 1, "d": 1}) == pytest.approx(0.386853, abs=1e-6)


def test_ndcg_graded_and_cutoff() -> None:
    # Grades 1 then 2, the ideal order is 2 then 1.
    expected = (1 + 2 / math.log2(3)) / (2 + 1 / math.log2(3))
    assert ndcg_at_k(["x", "y"], {"x": 1, "y": 2}) == pytest.approx(expected)
    assert ndcg_at_k(["y", "x"], {"x": 1, "y": 2}) == pytest.approx(1.0)
    # A relevant doc beyond the cutoff earns nothing.
    assert ndcg_at_k([f"n{i}" for i in range(10)] + ["r"], {"r": 1}, k=10) == 0.0
    assert ndcg_at_k(["a"], {}) == 0.0
    assert ndcg_at_k(["a"], {"a": 0}) == 0.0


def test_recall_and_mrr_by_hand() -> None:
    ranked = ["a", "b", "c", "d"]
    qrels = {"b": 1, "d": 1, "z": 1, "n": 0}
    assert recall_at_k(ranked, qrels, 100) == pytest.approx(2 / 3)
    assert recall_at_k(ranked, qrels, 2) == pytest.approx(1 / 3)
    assert mrr_at_k(ranked, qrels, 10) == pytest.approx(0.5)
    assert mrr_at_k(ranked, qrels, 1) == 0.0
    assert mrr_at_k(["n", "d"], qrels) == pytest.approx(0.5)  # grade 0 is not relevant


def test_percentile_interpolates() -> None:
    assert percentile([1, 2, 3, 4], 50) == pytest.approx(2.5)
    assert percentile([5, 1, 3], 100) == 5
    assert percentile([7], 99) == 7
    assert percentile([], 50) == 0.0


def test_reciprocal_rank_fusion_by_hand() -> None:
    fused = reciprocal_rank_fusion({"a": [1, 2, 3], "b": [3, 1], "c": [9]}, {"a": 1.0, "b": 1.0, "c": 0.0})
    assert [i for i, _ in fused] == [1, 3, 2]  # list "c" has weight 0 and is ignored
    scores = dict(fused)
    assert scores[1] == pytest.approx(1 / 61 + 1 / 62)
    assert scores[3] == pytest.approx(1 / 63 + 1 / 61)
    assert scores[2] == pytest.approx(1 / 62)


def test_weights_change_the_winner() -> None:
    lists = {"bm25": [1, 2], "dense": [2, 1]}
    assert reciprocal_rank_fusion(lists, {"bm25": 2.0, "dense": 1.0})[0][0] == 1
    assert reciprocal_rank_fusion(lists, {"bm25": 1.0, "dense": 2.0})[0][0] == 2


def test_logistic_fit_separates_scores() -> None:
    # Relevant pairs have higher cosine: the fitted probability rises with cosine and crosses 0.5 between.
    cal = fit_logistic([0.2, 0.25, 0.3, 0.35, 0.6, 0.65, 0.7, 0.4, 0.55], [0, 0, 0, 0, 1, 1, 1, 1, 0])
    assert cal.slope > 0
    assert cal.probability(0.2) < 0.2 < 0.8 < cal.probability(0.75)


def test_zscore_fusion_by_hand() -> None:
    # List a: mean 2, sd sqrt(2/3) -> z = +1.2247, 0, -1.2247. List b: mean 5, sd 5 -> z = +1, -1.
    lists = {"a": ([1, 2, 3], [3.0, 2.0, 1.0]), "b": ([3, 4], [10.0, 0.0]), "c": ([9], [5.0])}
    fused = zscore_fusion(lists, {"a": 1.0, "b": 1.0, "c": 0.0})
    z = math.sqrt(1.5)
    # A paper missing from a list takes that list's lowest z; list "c" has weight 0 and is ignored.
    assert [i for i, _ in fused] == [1, 3, 2, 4]
    scores = dict(fused)
    assert scores[1] == pytest.approx(z - 1)
    assert scores[3] == pytest.approx(-z + 1)
    assert scores[2] == pytest.approx(0 - 1)
    assert scores[4] == pytest.approx(-z - 1)


def test_zscore_fusion_keeps_a_clear_winners_margin_where_ranks_cannot() -> None:
    # Paper 1 is far ahead in bm25 and a close second in dense: rank fusion calls it a tie with 2,
    # score fusion does not. A list of equal scores (sd 0) adds nothing and breaks nothing.
    lists = {"bm25": ([1, 2, 3], [30.0, 5.0, 4.0]), "dense": ([2, 1, 3], [0.80, 0.79, 0.50]),
             "late": ([1, 2, 3], [7.0, 7.0, 7.0])}
    weights = {"bm25": 1.0, "dense": 1.0, "late": 1.0}
    rrf = dict(reciprocal_rank_fusion({n: ids for n, (ids, _) in lists.items() if n != "late"}, weights))
    assert rrf[1] == pytest.approx(rrf[2])
    fused = zscore_fusion(lists, weights)
    assert fused[0][0] == 1 and fused[0][1] > fused[1][1] + 1
