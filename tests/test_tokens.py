"""Compressed token store: MaxSim fidelity, persistence, and survival of a kill -9 during writes."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from paperscope.index.tokens import TokenStore, pool_tokens
from tests.support.tokens import DIM, doc_tokens


def chamfer(query: np.ndarray, doc: np.ndarray) -> float:
    return float((query @ doc.T).max(axis=1).sum())


def fitted_store(directory: Path, reduced_dim: int = 32) -> TokenStore:
    store = TokenStore.create(directory, dim=DIM, reduced_dim=reduced_dim)
    store.fit(np.concatenate([doc_tokens(k) for k in range(500, 560)]))
    return store


def test_maxsim_close_to_uncompressed_and_same_ranking(tmp_path: Path) -> None:
    store = fitted_store(tmp_path / "tok")
    keys = np.arange(200)
    store.add(keys, [doc_tokens(int(k)) for k in keys])
    query = doc_tokens(7)[:6] + 0.1 * doc_tokens(9)[:1]
    query /= np.linalg.norm(query, axis=1, keepdims=True)
    exact = np.array([chamfer(query, doc_tokens(int(k))) for k in keys])
    approx = store.maxsim(query, keys)
    assert np.abs(approx - exact).max() < 0.03 * len(query)
    assert int(np.argmax(approx)) == 7
    top_approx, top_exact = set(np.argsort(-approx)[:10].tolist()), set(np.argsort(-exact)[:10].tolist())
    assert len(top_approx & top_exact) >= 8
    # get() returns the decompressed reduced vectors: scoring them by hand gives the same numbers.
    by_hand = float((store.project_query(query) @ store.get(7).T).max(axis=1).sum())
    assert by_hand == pytest.approx(float(approx[7]), rel=1e-4)
    assert store.get(7).shape == (len(doc_tokens(7)), 32)
    store.close()


def test_maxsim_split_across_threads_scores_exactly_as_one_thread(tmp_path: Path) -> None:
    store = fitted_store(tmp_path / "tok")
    keys = np.arange(600)
    store.add(keys, [doc_tokens(int(k)) for k in keys])
    query = doc_tokens(11)[:5]
    # Candidates in an arbitrary order, with unknown keys mixed in (they must stay -inf).
    asked = np.concatenate([np.random.default_rng(3).permutation(keys), [10_000, 10_001]])
    alone = store.maxsim(query, asked)
    with ThreadPoolExecutor(3) as pool:
        split = store.maxsim(query, asked, pool, 3)
    assert np.array_equal(alone, split)
    assert np.isneginf(split[-2:]).all() and np.isfinite(split[:-2]).all()
    store.close()


def test_compression_and_edge_cases(tmp_path: Path) -> None:
    store = fitted_store(tmp_path / "tok")
    store.add(np.array([1, 2]), [doc_tokens(1), np.zeros((0, DIM), dtype=np.float32)])
    store.flush()
    scores = store.maxsim(doc_tokens(1)[:3], np.array([1, 2, 99]))
    assert scores[1] == 0.0 and scores[2] == -np.inf  # no tokens / not stored
    assert 1 in store and 99 not in store and len(store) == 2
    with pytest.raises(KeyError):
        store.get(99)
    # One byte per reduced dimension per token, plus small fixed files.
    data_bytes = len(doc_tokens(1)) * 32
    assert data_bytes <= store.bytes_on_disk() < data_bytes + 64 * 1024
    with pytest.raises(FileExistsError):
        TokenStore.create(tmp_path / "tok", dim=DIM)


def test_readding_replaces_and_reopen_sees_flushed_state(tmp_path: Path) -> None:
    store = fitted_store(tmp_path / "tok")
    store.add(np.array([1, 2]), [doc_tokens(1), doc_tokens(2)])
    store.add(np.array([1]), [doc_tokens(3)])  # paper 1 re-encoded
    store.flush()
    store.add(np.array([4]), [doc_tokens(4)])  # never flushed: as if the writer died here

    reopened = TokenStore.open(tmp_path / "tok")
    assert len(reopened) == 2 and 4 not in reopened
    np.testing.assert_allclose(reopened.get(1), store.get(1))
    assert reopened.get(1).shape[0] == len(doc_tokens(3))
    # A new writer overwrites the dead tail and stays consistent.
    reopened.add(np.array([5]), [doc_tokens(5)])
    reopened.flush()
    final = TokenStore.open(tmp_path / "tok")
    assert sorted(k for k in (1, 2, 4, 5) if k in final) == [1, 2, 5]
    q = doc_tokens(5)[:4]
    assert final.maxsim(q, np.array([5]))[0] == pytest.approx(chamfer(q, doc_tokens(5)), abs=0.1)
    store.close()  # the first writer, left open above, lets go of its data file


def test_reader_refresh_sees_another_writers_flushes(tmp_path: Path) -> None:
    writer = fitted_store(tmp_path / "tok")
    writer.add(np.array([1]), [doc_tokens(1)])
    writer.flush()
    reader = TokenStore.open(tmp_path / "tok")
    assert reader.refresh() is False
    writer.add(np.array([2]), [doc_tokens(2)])
    assert reader.refresh() is False and 2 not in reader  # not flushed yet
    writer.flush()
    assert reader.refresh() is True and 2 in reader
    np.testing.assert_allclose(reader.get(2), writer.get(2))


def test_add_requires_fit(tmp_path: Path) -> None:
    store = TokenStore.create(tmp_path / "tok", dim=DIM)
    with pytest.raises(RuntimeError):
        store.add(np.array([1]), [doc_tokens(1)])


def test_kill_9_during_adds_leaves_a_consistent_store(tmp_path: Path) -> None:
    directory = tmp_path / "tok"
    fitted_store(directory)
    writer = textwrap.dedent(
        f"""
        import sys, numpy as np
        sys.path.insert(0, {str(Path(__file__).resolve().parents[1])!r})
        from tests.support.tokens import doc_tokens
        from paperscope.index.tokens import TokenStore
        store = TokenStore.open({str(directory)!r})
        key = 0
        while True:
            batch = np.arange(key, key + 20)
            store.add(batch, [doc_tokens(int(k)) for k in batch])
            store.flush()
            print(key + 20, flush=True)
            key += 20
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", writer], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    committed = 0
    deadline = time.monotonic() + 60
    while committed < 200 and time.monotonic() < deadline:
        committed = int(proc.stdout.readline() or committed)
    time.sleep(0.013)  # land somewhere inside a later add or flush
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    assert committed >= 200

    store = TokenStore.open(directory)
    assert len(store) >= committed and len(store) % 20 == 0
    for key in range(0, len(store), 7):
        exact = doc_tokens(key)
        assert store.get(key).shape[0] == len(exact)
        q = exact[:3]
        assert store.maxsim(q, np.array([key]))[0] == pytest.approx(chamfer(q, exact), abs=0.1)
    # And the store keeps accepting writes after the crash.
    store.add(np.array([10_000]), [doc_tokens(10_000)])
    store.flush()
    assert 10_000 in TokenStore.open(directory)


def test_pool_tokens_merges_repeated_tokens_and_keeps_distinct_ones() -> None:
    rng = np.random.default_rng(3)
    distinct = rng.standard_normal((5, 16)).astype(np.float32)
    # Each of five words appears twice, slightly perturbed: pooling by 2 should find exactly the five.
    doubled = np.repeat(distinct, 2, axis=0) + 0.01 * rng.standard_normal((10, 16)).astype(np.float32)
    pooled = pool_tokens(doubled, 2)
    assert pooled.shape == (5, 16)
    # In the order of the text, each mean pointing where its word points...
    cosines = (pooled * distinct).sum(1) / np.linalg.norm(pooled, axis=1) / np.linalg.norm(distinct, axis=1)
    assert cosines.min() > 0.999
    # ...at the paper's mean token length.
    assert np.allclose(np.linalg.norm(pooled, axis=1), np.linalg.norm(doubled, axis=1).mean(), rtol=1e-5)
    # Factor 1, a single token, and a paper already small enough come back unchanged.
    assert pool_tokens(doubled, 1) is doubled
    assert pool_tokens(doubled[:1], 2).shape == (1, 16)
    assert pool_tokens(doubled, 2, iterations=0).shape[0] <= 5


def redundant_doc(key: int) -> np.ndarray:
    """Tokens as text gives them: a few distinct words, each appearing two or three times (word pieces,
    repeats) with small differences from context."""
    words = doc_tokens(key)[:12]
    rng = np.random.default_rng(key + 10_000)
    x = np.repeat(words, rng.integers(2, 4, len(words)), axis=0)
    x = x + 0.05 * rng.standard_normal(x.shape).astype(np.float32)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def test_pooled_store_keeps_half_the_rows_and_nearly_the_same_ranking(tmp_path: Path) -> None:
    keys = np.arange(300)
    docs = [redundant_doc(int(k)) for k in keys]
    sample = np.concatenate([redundant_doc(k) for k in range(500, 560)])
    plain = TokenStore.create(tmp_path / "plain", dim=DIM, reduced_dim=32)
    pooled = TokenStore.create(tmp_path / "pooled", dim=DIM, reduced_dim=32, pool_factor=2)
    for store in (plain, pooled):
        store.fit(sample)
        store.add(keys, docs)
        store.flush()
    reopened = TokenStore.open(tmp_path / "pooled")
    assert reopened.pool_factor == 2 and TokenStore.open(tmp_path / "plain").pool_factor == 1
    for k in keys.tolist():
        assert len(reopened.get(k)) <= -(-len(docs[k]) // 2)
    query = redundant_doc(42)[::3][:8]
    exact = np.array([chamfer(query, d) for d in docs])
    scores = reopened.maxsim(query, keys)
    assert int(np.argmax(scores)) == 42
    top_exact, top_pooled = set(np.argsort(-exact)[:10].tolist()), set(np.argsort(-scores)[:10].tolist())
    assert len(top_exact & top_pooled) >= 8
    # Pooling an existing store without re-encoding gives nearly what pooling at add time gives.
    copied = plain.copy_pooled(tmp_path / "copied", 2)
    assert TokenStore.open(tmp_path / "copied").pool_factor == 2
    assert np.allclose(copied.maxsim(query, keys), scores, atol=0.03 * len(query))


def test_many_papers_scored_in_several_products_match_scoring_each_alone(tmp_path: Path) -> None:
    store = fitted_store(tmp_path / "tok")
    keys = np.arange(400)  # ~8,000 rows: several products of at most _ROWS_PER_PRODUCT rows
    store.add(keys, [doc_tokens(int(k)) for k in keys])
    query = doc_tokens(5)[:7]
    together = store.maxsim(query, keys)
    alone = np.array([store.maxsim(query, np.array([k]))[0] for k in keys])
    assert np.allclose(together, alone, rtol=1e-5, atol=1e-5)
    store.close()
