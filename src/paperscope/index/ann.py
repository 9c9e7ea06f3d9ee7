"""HNSW index (usearch) with inner-product similarity, int64 keys and atomic saves.

Storage is compact: ``f16`` halves the float32 payload; ``i8`` quarters it. usearch normalises float input
to unit length when it casts to i8 (turning inner product into cosine), so for ``i8`` we quantise ourselves
with one scale per index - fixed by the first ``add`` (so add a representative batch first) and kept in
a small JSON file next to the index - and hand usearch int8 vectors, for which its inner product is the
exact integer dot product.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from usearch.index import Index

from paperscope.files import write_atomically

_DTYPES = ("f32", "f16", "i8")


def _meta_path(path: Path) -> Path:
    return path.with_name(path.name + ".json")


class AnnIndex:
    """Approximate nearest neighbours by inner product; keys are paper row ids."""

    def __init__(self, path: Path, index: Index, dtype: str, i8_scale: float | None) -> None:
        self.path = path
        self.dtype = dtype
        self._index = index
        # Multiplier from float values to int8 codes (i8 only); None until the first add.
        self._i8_scale = i8_scale

    @classmethod
    def create(cls, path: Path, dim: int, dtype: str = "f16", connectivity: int = 16) -> AnnIndex:
        """A new, empty index that will be saved at ``path`` (nothing is written until ``save``)."""
        if dtype not in _DTYPES:
            raise ValueError(f"dtype must be one of {_DTYPES}")
        index = Index(ndim=dim, metric="ip", dtype=dtype, connectivity=connectivity)
        return cls(Path(path), index, dtype, None)

    @classmethod
    def open(cls, path: Path, view: bool = False) -> AnnIndex:
        """Load a saved index; ``view=True`` memory-maps it read-only (no add/remove)."""
        path = Path(path)
        meta = json.loads(_meta_path(path).read_text())
        index = Index.restore(str(path), view=view)
        if index is None:
            raise FileNotFoundError(path)
        return cls(path, index, meta["dtype"], meta.get("i8_scale"))

    @classmethod
    def open_or_create(cls, path: Path, dim: int, dtype: str = "f16", connectivity: int = 16) -> AnnIndex:
        """Open ``path`` if it was saved before, else create an empty index."""
        path = Path(path)
        if path.exists() and _meta_path(path).exists():
            return cls.open(path)
        return cls.create(path, dim, dtype, connectivity)

    @property
    def dim(self) -> int:
        return int(self._index.ndim)

    def _encode(self, vectors: np.ndarray) -> np.ndarray:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if self.dtype != "i8":
            return vectors
        if self._i8_scale is None:
            # The 99.99th percentile, not the maximum: one outlier would otherwise squeeze every other
            # value into a few int8 steps. Rarer extremes are clipped.
            peak = float(np.quantile(np.abs(vectors), 0.9999)) if vectors.size else 0.0
            self._i8_scale = 127.0 / peak if peak > 0 else 1.0
        return np.clip(np.rint(vectors * self._i8_scale), -127, 127).astype(np.int8)

    def add(self, keys: np.ndarray, vectors: np.ndarray) -> None:
        """Insert vectors under int64 keys; a key already present is replaced."""
        keys = np.asarray(keys, dtype=np.int64).reshape(-1)
        vectors = np.asarray(vectors, dtype=np.float32).reshape(len(keys), self.dim)
        if len(keys) == 0:
            return
        if len(np.unique(keys)) != len(keys):
            # Last occurrence wins, as if the keys had been added one after another.
            _, last = np.unique(keys[::-1], return_index=True)
            keep = np.sort(len(keys) - 1 - last)
            keys, vectors = keys[keep], vectors[keep]
        self.remove(keys)
        self._index.add(keys, self._encode(vectors))

    def remove(self, keys: np.ndarray) -> None:
        """Drop keys; unknown keys are ignored."""
        keys = np.asarray(keys, dtype=np.int64).reshape(-1)
        if len(keys) == 0 or len(self._index) == 0:
            return
        present = keys[np.asarray(self._index.contains(keys), dtype=bool).reshape(-1)]
        if len(present):
            self._index.remove(present)

    def search(self, query: np.ndarray, k: int, ef: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` keys with the highest inner product with ``query`` (best first) and those products.

        ``ef`` is the HNSW search beam (usearch "expansion_search"); larger is slower and more exact.
        """
        if k <= 0 or len(self._index) == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        query = np.asarray(query, dtype=np.float32).reshape(-1)
        if ef is not None:
            # usearch defines a setter, but its annotations hide it from mypy.
            self._index.expansion_search = max(ef, k)  # type: ignore[misc]
        if self.dtype == "i8":
            peak = float(np.abs(query).max())
            q_scale = 127.0 / peak if peak > 0 else 1.0
            codes = np.clip(np.rint(query * q_scale), -127, 127).astype(np.int8)
            matches = self._index.search(codes, k)
            # usearch's ip distance is 1 - dot; undo both quantisation scales to get a float similarity.
            denom = q_scale * (self._i8_scale or 1.0)
            sims = (1.0 - matches.distances.astype(np.float64)) / denom
        else:
            matches = self._index.search(query, k)
            sims = 1.0 - matches.distances.astype(np.float64)
        keys = np.asarray(matches.keys, dtype=np.int64)
        return keys, sims.astype(np.float32)

    def stored_vectors(self, keys: np.ndarray) -> np.ndarray:
        """The stored vectors of `keys` as float32 ``(n, dim)`` (as stored: f16/i8 rounding included;
        i8 ones in the index's own scale). KeyError if a key is absent."""
        keys = np.asarray(keys, dtype=np.int64).reshape(-1)
        if len(keys) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        got = self._index.get(keys, dtype="f32")
        rows = got if isinstance(got, tuple) else [got]
        if any(r is None for r in rows):
            raise KeyError("a key is not in the index")
        return np.stack([np.asarray(r, dtype=np.float32).reshape(-1) for r in rows if r is not None])

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, int | np.integer):
            return False
        return bool(self._index.contains(int(key)))

    def __len__(self) -> int:
        return len(self._index)

    def bytes_per_vector(self) -> int:
        """Bytes of vector payload per entry (excluding the HNSW graph links)."""
        return self.dim * {"f32": 4, "f16": 2, "i8": 1}[self.dtype]

    def save(self) -> None:
        """Write index and metadata to temp files in the same directory, then rename them into place."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        meta = {"dtype": self.dtype, "i8_scale": self._i8_scale, "dim": self.dim}
        write_atomically(_meta_path(self.path), json.dumps(meta))
        write_atomically(self.path, lambda tmp: self._index.save(str(tmp)))
