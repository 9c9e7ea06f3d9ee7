"""HNSW index: recall against brute force, replace/remove semantics, atomic persistence."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from paperscope.index.ann import AnnIndex


def corpus(n: int = 3000, dim: int = 48, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    # Unnormalised vectors with varying norms: inner product, not cosine, decides the order.
    norms = rng.uniform(0.2, 1.5, (n, 1))
    vectors = (rng.standard_normal((n, dim)) * norms).astype(np.float32)
    keys = np.arange(n, dtype=np.int64) * 7 + 1_000_000  # arbitrary, non-contiguous row ids
    return keys, vectors


@pytest.mark.parametrize("dtype", ["f32", "f16", "i8"])
def test_recall_against_brute_force_inner_product(tmp_path: Path, dtype: str) -> None:
    keys, vectors = corpus()
    index = AnnIndex.create(tmp_path / "x.usearch", dim=48, dtype=dtype)
    index.add(keys, vectors)
    assert len(index) == len(keys)
    queries = np.random.default_rng(1).standard_normal((50, 48)).astype(np.float32)
    hits = 0
    for query in queries:
        truth = set(keys[np.argsort(-(vectors @ query))[:10]].tolist())
        found, sims = index.search(query, 10, ef=128)
        assert len(found) == 10 and np.all(np.diff(sims) <= 1e-3)  # best first
        hits += len(truth & set(found.tolist()))
        # Similarities are inner products in the caller's scale, also for i8.
        exact = vectors[(found - 1_000_000) // 7] @ query
        np.testing.assert_allclose(sims, exact, rtol=0.1, atol=0.3)
    assert hits / (10 * len(queries)) >= 0.9


def test_readding_a_key_replaces_its_vector(tmp_path: Path) -> None:
    keys, vectors = corpus(200)
    index = AnnIndex.create(tmp_path / "x.usearch", dim=48)
    index.add(keys, vectors)
    target = -vectors[3] * 3
    index.add(keys[10:11], target[None, :])
    assert len(index) == 200
    found, _ = index.search(target, 1)
    assert found[0] == keys[10]
    # Duplicates within one call: the last one wins.
    index.add(np.array([5, 5]), np.stack([vectors[0], target]))
    found, _ = index.search(target, 2)
    assert set(found.tolist()) == {5, keys[10]}
    assert len(index) == 201


def test_remove_and_small_or_empty_searches(tmp_path: Path) -> None:
    keys, vectors = corpus(30)
    index = AnnIndex.create(tmp_path / "x.usearch", dim=48)
    assert len(index.search(vectors[0], 5)[0]) == 0
    index.add(keys, vectors)
    index.remove(np.array([keys[0], 424242]))  # unknown keys are ignored
    assert len(index) == 29 and keys[0] not in index and keys[1] in index
    found, _ = index.search(vectors[0], 100)
    assert len(found) == 29 and keys[0] not in found


@pytest.mark.parametrize("dtype", ["f16", "i8"])
def test_save_open_roundtrip_and_atomic_replace(tmp_path: Path, dtype: str) -> None:
    keys, vectors = corpus(500)
    path = tmp_path / "idx" / "fde.usearch"
    index = AnnIndex.create(path, dim=48, dtype=dtype)
    index.add(keys[:300], vectors[:300])
    index.save()
    first = index.search(vectors[7], 5)
    index.add(keys[300:], vectors[300:])
    index.save()  # over an existing file
    assert sorted(p.name for p in path.parent.iterdir()) == ["fde.usearch", "fde.usearch.json"]

    reopened = AnnIndex.open(path)
    assert len(reopened) == 500 and reopened.dtype == dtype
    np.testing.assert_array_equal(reopened.search(vectors[7], 5)[0], index.search(vectors[7], 5)[0])
    assert first[0][0] == reopened.search(vectors[7], 5)[0][0]
    # Opened indexes keep accepting writes; a read-only view serves searches.
    reopened.add(np.array([1]), vectors[:1])
    assert len(reopened) == 501
    view = AnnIndex.open(path, view=True)
    assert len(view) == 500 and view.search(vectors[9], 1)[0][0] == keys[9]


def test_open_or_create(tmp_path: Path) -> None:
    path = tmp_path / "p.usearch"
    index = AnnIndex.open_or_create(path, dim=8)
    assert len(index) == 0
    index.add(np.array([1, 2]), np.eye(2, 8, dtype=np.float32))
    index.save()
    assert len(AnnIndex.open_or_create(path, dim=8)) == 2
