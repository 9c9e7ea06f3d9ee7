"""Synthetic token vectors shaped like real ones, for the token store tests (and their subprocesses)."""

from __future__ import annotations

import numpy as np

DIM = 96


def doc_tokens(key: int, dim: int = DIM) -> np.ndarray:
    """Deterministic tokens for a key: unit vectors concentrated in a 24-dim subspace, as real token
    embeddings concentrate in few directions."""
    basis = np.random.default_rng(12345).standard_normal((24, dim))
    rng = np.random.default_rng(key)
    x = rng.standard_normal((int(rng.integers(3, 40)), 24)) @ basis + 0.05 * rng.standard_normal((1, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
