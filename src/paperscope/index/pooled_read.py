"""Every indexed paper's pooled vector, read back in one go (the map of the field lays them out).

One small function on purpose: today the vectors come out of the index set's pooled HNSW file; once the
store keeps embeddings, only this function changes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

# onnxruntime must be loaded before usearch: the other order segfaults on import (seen with this
# machine's wheels); paperscope.embed loads onnxruntime.
import paperscope.embed  # noqa: F401
from paperscope.index.ann import AnnIndex
from paperscope.index.build import IndexLayout

BATCH = 8192


def all_pooled_vectors(index_root: Path) -> tuple[np.ndarray, np.ndarray]:
    """(row ids int64 [n], L2-normalised float32 vectors [n, dim]) in row-id order; empty without an index."""
    path = IndexLayout(Path(index_root)).pooled
    if not path.is_file():
        return np.zeros(0, dtype=np.int64), np.zeros((0, 0), dtype=np.float32)
    ann = AnnIndex.open(path, view=True)
    # AnnIndex has no public read of its vectors (search/dpp.py reads them the same way).
    index = ann._index
    keys = np.sort(np.asarray(index.keys, dtype=np.int64))
    out = np.empty((len(keys), ann.dim), dtype=np.float32)
    for start in range(0, len(keys), BATCH):
        part = keys[start:start + BATCH]
        out[start:start + len(part)] = np.asarray(index.get(part), dtype=np.float32).reshape(len(part), -1)
    if ann.dtype == "i8" and ann._i8_scale:
        out /= float(ann._i8_scale)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    out /= np.where(norms > 0, norms, 1.0)
    return keys, out
