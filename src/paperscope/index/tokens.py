"""Compressed per-paper token vectors for exact MaxSim (late-interaction) re-ranking.

Compression (``index/token_codec.py``): projection to ``reduced_dim`` dims, token pooling, int8 codes. At
384 -> 128 dims a token costs 128 bytes instead of 768 in fp16. Queries stay in the original dimension;
``maxsim`` projects them with the same matrix. Rows arrive either as token vectors (``add``, compressed
here) or as the codes the store keeps (``add_codes``, copied as they are).

Layout of the store directory:
  meta.json     dimensions and pool factor (written once at create)
  codec.npz     projection matrix and per-dimension scales (written once at fit)
  tokens.i8     append-only int8 rows, one per token
  offsets.npz   key -> (first row, row count) plus the number of committed rows; replaced atomically

A kill during ``add`` leaves offsets.npz pointing at fully written rows only; rows appended after the last
``flush`` are ignored and overwritten by the next writer. Reads memory-map tokens.i8.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from concurrent.futures import Executor
from pathlib import Path
from typing import BinaryIO, TypeVar

import numpy as np

from paperscope.files import write_atomically
from paperscope.index.token_codec import TokenCodec, npz_bytes, pool_tokens

__all__ = ["TokenStore", "pool_tokens"]

_META, _CODEC, _DATA, _OFFSETS = "meta.json", "codec.npz", "tokens.i8", "offsets.npz"
# Rows per matrix product in maxsim: small enough for their float32 copy to stay in cache.
_ROWS_PER_PRODUCT = 2048
# Below this many candidate rows a second thread costs more than it saves.
_MIN_PARALLEL_ROWS = 4096


def _file_version(path: Path) -> tuple[int, int, int]:
    """Identity of a file version: every atomic replace makes a new inode; mtime alone is too coarse."""
    st = path.stat()
    return st.st_ino, st.st_mtime_ns, st.st_size


_Item = TypeVar("_Item")


def _group_rows(items: Sequence[_Item], sizes: Sequence[int], limit: int) -> list[list[_Item]]:
    """Consecutive items in groups of at most `limit` rows in all (an item larger than that is a group
    alone); `sizes` gives each item's rows."""
    groups: list[list[_Item]] = []
    group_rows = limit + 1
    for item, n in zip(items, sizes, strict=True):
        if group_rows + n > limit:
            groups.append([])
            group_rows = 0
        groups[-1].append(item)
        group_rows += n
    return groups


class TokenStore:
    """Token vectors of every paper, compressed, keyed by paper row id."""

    def __init__(self, directory: Path, dim: int, reduced_dim: int, pool_factor: int = 1) -> None:
        self.directory = Path(directory)
        self.dim = dim
        self.reduced_dim = reduced_dim
        self.pool_factor = pool_factor
        self._codec: TokenCodec | None = None
        self._spans: dict[int, tuple[int, int]] = {}
        self._committed_rows = 0  # rows referenced by offsets.npz on disk
        self._rows = 0  # rows written by this process (>= committed)
        self._dirty = False
        self._writer: BinaryIO | None = None
        self._mmap: np.ndarray | None = None
        self._offsets_version: tuple[int, int, int] | None = None  # offsets file last read

    # -- lifecycle --------------------------------------------------------------------------------------

    @classmethod
    def create(cls, directory: Path, dim: int, reduced_dim: int = 128, pool_factor: int = 1) -> TokenStore:
        """A new, empty store keeping ``reduced_dim`` int8 dims per token and one vector per
        ``pool_factor`` tokens of each paper; call ``fit`` before the first ``add``. Refuses to overwrite an
        existing store."""
        directory = Path(directory)
        if (directory / _META).exists():
            raise FileExistsError(f"a token store already exists in {directory}")
        if reduced_dim <= 0:
            raise ValueError("reduced_dim must be positive")
        if pool_factor < 1:
            raise ValueError("pool_factor must be at least 1")
        reduced_dim = min(reduced_dim, dim)  # a "reduction" wider than the input keeps every dimension
        directory.mkdir(parents=True, exist_ok=True)
        (directory / _DATA).touch()
        meta = {"dim": dim, "reduced_dim": reduced_dim, "pool_factor": pool_factor}
        write_atomically(directory / _META, json.dumps(meta).encode())
        return cls(directory, dim, reduced_dim, pool_factor)

    @classmethod
    def open(cls, directory: Path) -> TokenStore:
        """Open an existing store (its committed state as of the last ``flush``)."""
        directory = Path(directory)
        meta = json.loads((directory / _META).read_text())
        # Stores written before pooling existed have no pool_factor: they keep every token.
        store = cls(directory, int(meta["dim"]), int(meta["reduced_dim"]), int(meta.get("pool_factor", 1)))
        store._load_committed()
        return store

    def _load_committed(self) -> None:
        if self._codec is None and (self.directory / _CODEC).exists():
            self._codec = TokenCodec.from_bytes((self.directory / _CODEC).read_bytes())
        path = self.directory / _OFFSETS
        if path.exists():
            self._offsets_version = _file_version(path)
            with np.load(path) as offsets:
                keys, starts, counts = offsets["keys"], offsets["starts"], offsets["counts"]
                self._committed_rows = self._rows = int(offsets["rows"])
            columns = zip(keys.tolist(), starts.tolist(), counts.tolist(), strict=True)
            self._spans = {int(k): (int(s), int(c)) for k, s, c in columns}
            self._mmap = None

    def refresh(self) -> bool:
        """For readers: pick up papers another process has flushed since ``open``. True if anything changed.

        Must not be called with unflushed adds of our own (they would be forgotten)."""
        if self._dirty:
            raise RuntimeError("refresh() with unflushed adds; call flush() first")
        path = self.directory / _OFFSETS
        version = _file_version(path) if path.exists() else None
        if version == self._offsets_version:
            return False
        self._load_committed()
        return True

    @classmethod
    def exists(cls, directory: Path) -> bool:
        return (Path(directory) / _META).exists()

    @property
    def is_fitted(self) -> bool:
        return self._codec is not None

    @property
    def codec(self) -> TokenCodec | None:
        """The projection and int8 scales (None until fitted or given)."""
        return self._codec

    def fit(self, sample_tokens: np.ndarray) -> None:
        """Learn projection and int8 scales from sample token vectors ``(n, dim)``; once, before adding."""
        self.set_codec(TokenCodec.fit(sample_tokens, self.dim, self.reduced_dim))

    def set_codec(self, codec: TokenCodec) -> None:
        """Use `codec` (e.g. the one stored with the model's embeddings); once, before adding."""
        if self.is_fitted:
            raise RuntimeError("token store is already fitted")
        if (codec.dim, codec.reduced_dim) != (self.dim, self.reduced_dim):
            raise ValueError(f"codec maps {codec.dim}->{codec.reduced_dim} dims, the store "
                             f"{self.dim}->{self.reduced_dim}")
        self._codec = codec
        write_atomically(self.directory / _CODEC, codec.to_bytes())

    # -- writing ----------------------------------------------------------------------------------------

    def add(self, keys: np.ndarray, docs: Sequence[np.ndarray]) -> None:
        """Append the token matrices ``(n_i, dim)`` of ``docs`` under ``keys``; a re-added key is replaced.

        Durable and visible to other processes after ``flush``.
        """
        if self._codec is None:
            raise RuntimeError("call fit() before add()")
        codec = self._codec
        self.add_codes(keys, [codec.compress(d, self.pool_factor) for d in docs])

    def add_codes(self, keys: np.ndarray, codes: Sequence[np.ndarray]) -> None:
        """Append already compressed rows (int8 ``(n_i, reduced_dim)``, as `TokenCodec.compress` makes them)
        under ``keys``; a re-added key is replaced. Durable and visible to other processes after ``flush``."""
        if not self.is_fitted:
            raise RuntimeError("call fit() or set_codec() before adding")
        keys = np.asarray(keys, dtype=np.int64).reshape(-1)
        if len(keys) != len(codes):
            raise ValueError("keys and docs differ in length")
        if len(keys) == 0:
            return
        mats = [np.asarray(c, dtype=np.int8).reshape(-1, self.reduced_dim) for c in codes]
        fh = self._open_writer()
        fh.write(np.concatenate(mats).tobytes())
        start = self._rows
        for key, mat in zip(keys.tolist(), mats, strict=True):
            self._spans[key] = (start, len(mat))
            start += len(mat)
        self._rows = start
        self._dirty = True
        self._mmap = None

    def _open_writer(self) -> BinaryIO:
        if self._writer is None:
            fh = open(self.directory / _DATA, "r+b")  # noqa: SIM115 - kept open across adds, closed in flush
            # Drop rows a killed writer appended after the last commit: nothing references them.
            fh.truncate(self._committed_rows * self.reduced_dim)
            fh.seek(0, os.SEEK_END)
            self._writer = fh
        return self._writer

    def flush(self) -> None:
        """Make appended rows durable, then atomically publish the new offsets."""
        if self._writer is not None:
            fh = self._writer
            fh.flush()
            os.fsync(fh.fileno())
            fh.close()
            self._writer = None
        if not self._dirty:
            return
        spans = self._spans
        keys = np.fromiter(spans.keys(), dtype=np.int64, count=len(spans))
        pairs = np.array(list(spans.values()), dtype=np.int64).reshape(-1, 2)
        payload = npz_bytes(keys=keys, starts=pairs[:, 0], counts=pairs[:, 1], rows=np.int64(self._rows))
        write_atomically(self.directory / _OFFSETS, payload)
        self._offsets_version = _file_version(self.directory / _OFFSETS)
        self._committed_rows = self._rows
        self._dirty = False

    close = flush

    def __enter__(self) -> TokenStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.flush()

    # -- reading ----------------------------------------------------------------------------------------

    def _data(self) -> np.ndarray:
        if self._writer is not None:
            self._writer.flush()
        if self._mmap is None or len(self._mmap) < self._rows:
            if self._rows == 0:
                return np.zeros((0, self.reduced_dim), dtype=np.int8)
            # A plain ndarray view of the mapping: slicing a np.memmap costs bookkeeping on every slice.
            self._mmap = np.asarray(np.memmap(
                self.directory / _DATA, dtype=np.int8, mode="r", shape=(self._rows, self.reduced_dim)
            ))
        return self._mmap

    def project_query(self, query_tokens: np.ndarray) -> np.ndarray:
        """Map query tokens ``(m, dim)`` into the space of ``get`` (so ``project_query(q) @ get(k).T``
        are the token similarities)."""
        if self._codec is None:
            raise RuntimeError("token store is not fitted")
        return self._codec.project(query_tokens)

    def get(self, key: int) -> np.ndarray:
        """Decompressed token vectors of one paper: ``(n, reduced_dim)`` float32. KeyError if absent."""
        return self.get_codes(key).astype(np.float32) * self._scale_or_raise()

    def get_codes(self, key: int) -> np.ndarray:
        """The stored int8 rows of one paper ``(n, reduced_dim)``. KeyError if absent."""
        start, count = self._spans[int(key)]
        return self._data()[start : start + count]

    def _scale_or_raise(self) -> np.ndarray:
        if self._codec is None:
            raise RuntimeError("token store is not fitted")
        return self._codec.scale

    def maxsim(self, query_tokens: np.ndarray, keys: np.ndarray, executor: Executor | None = None,
               workers: int = 1) -> np.ndarray:
        """Chamfer similarity ``sum_q max_d <q, d>`` of the query with each paper in ``keys``.

        Query tokens are in the original dimension. Papers not in the store score -inf; papers without
        tokens score 0. With an `executor` the candidates are cut into `workers` blocks scored in
        parallel (numpy releases the GIL in the gather and the matrix product).
        """
        keys = np.asarray(keys, dtype=np.int64).reshape(-1)
        scores = np.full(len(keys), -np.inf, dtype=np.float32)
        if not self.is_fitted or len(keys) == 0:
            return scores
        # Fold the int8 step sizes into the query so stored codes are used as they are.
        query = self.project_query(query_tokens) * self._scale_or_raise()
        data = self._data()
        spans = [(pos, *span) for pos, span in enumerate(map(self._spans.get, keys.tolist()))
                 if span is not None]
        for pos, _, count in spans:
            if count == 0:
                scores[pos] = 0.0
        spans = [s for s in spans if s[2]]
        # Products are formed from the candidate order alone, never from the worker count: a BLAS
        # kernel may round a row differently in a matrix of another height (AVX-512 tails do), so
        # fixed products keep every score bit-identical however many threads share the work.
        products = _group_rows(spans, [count for _, _, count in spans], _ROWS_PER_PRODUCT)
        total = sum(count for _, _, count in spans)
        parallel = executor is not None and workers > 1 and total >= _MIN_PARALLEL_ROWS
        if parallel and executor is not None and len(products) > 1:
            share = math.ceil(total / workers)
            blocks = _group_rows(products, [sum(c for _, _, c in p) for p in products], share)
            # Blocks write disjoint positions of `scores`. The caller scores the first block itself
            # rather than wait idle (the pool may be busy with another part of the same query).
            futures = [executor.submit(self._score_products, query, data, b, scores) for b in blocks[1:]]
            self._score_products(query, data, blocks[0], scores)
            for done in futures:
                done.result()
        else:
            self._score_products(query, data, products, scores)
        return scores

    @staticmethod
    def _score_products(
        query: np.ndarray, data: np.ndarray, products: list[list[tuple[int, int, int]]], scores: np.ndarray
    ) -> None:
        """Score the papers of each product group with one matrix product: its widened rows (~1 MB of
        float32) stay in the CPU cache between the gather and the multiply, which measured a third less
        CPU than one product over many more rows."""
        for part in products:
            # Gather and widen to float32 in one pass.
            mat = np.concatenate([data[start : start + count] for _, start, count in part], dtype=np.float32)
            sims = mat @ query.T  # (rows, query tokens)
            bounds = np.cumsum([0] + [count for _, _, count in part[:-1]])
            scores[[pos for pos, _, _ in part]] = np.maximum.reduceat(sims, bounds, axis=0).sum(axis=1)

    def copy_pooled(self, directory: Path, pool_factor: int, batch: int = 2000) -> TokenStore:
        """A new store under `directory` holding this one's papers with their stored tokens pooled by
        `pool_factor` (same projection and scales), without re-encoding anything. The pooling works on
        the decompressed codes, so it sees int8 rounding that pooling at `add` time does not."""
        if not self.is_fitted:
            raise RuntimeError("token store is not fitted")
        out = TokenStore.create(directory, self.dim, self.reduced_dim, pool_factor)
        codec = self._codec
        assert codec is not None
        out.set_codec(codec)
        keys = list(self._spans)
        for i in range(0, len(keys), batch):
            part = keys[i:i + batch]
            # Back to the original space: the projection's columns are orthonormal, so P.T then P is exact.
            out.add(np.asarray(part, dtype=np.int64), [codec.reconstruct(self.get_codes(k)) for k in part])
        out.flush()
        return out

    def keys(self) -> list[int]:
        """Every paper's key, in no particular order."""
        return list(self._spans)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, int | np.integer) and int(key) in self._spans

    def __len__(self) -> int:
        return len(self._spans)

    def bytes_on_disk(self) -> int:
        """Total size of the store's files."""
        return sum(p.stat().st_size for p in self.directory.iterdir() if p.is_file())
