"""MUVERA Fixed Dimensional Encodings (Dhulipala et al., arXiv 2405.19504).

A multi-vector (one vector per token) query or document becomes one fixed-size vector whose inner product
approximates the Chamfer / MaxSim similarity ``sum_q max_d <q, d>``, so late-interaction retrieval can use an
ordinary single-vector ANN index for candidate generation and exact MaxSim only for re-ranking.

Per repetition: k_sim random Gaussian hyperplanes (SimHash) split token space into 2^k_sim buckets; each token
is projected to d_proj dims with a random +-1 matrix scaled by 1/sqrt(d_proj); the query sums the projected
tokens of a bucket, the document averages them, and an empty document bucket takes the projected token whose
sign pattern is nearest in Hamming distance to that bucket's. Repetitions are concatenated; an optional
Count-Sketch shrinks the result to ``final_dim``.

Bucket numbering follows the reference implementation: the sign bits b_0..b_{k-1} of a token (b_0 most
significant) are read as a *Gray code* and the bucket id is its binary value, so the sign pattern of bucket n
is ``n ^ (n >> 1)``. Everything is vectorised over all tokens of a batch of documents.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

# Tokens handled per internal chunk: bounds the (tokens x reps x buckets) Hamming table to tens of MB.
_CHUNK_TOKENS = 8192
_CHUNK_DOCS = 512
_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


@dataclass(frozen=True)
class FDEConfig:
    """Shape of the encoding. ``d_proj=None`` keeps tokens unprojected (identity), useful for exact checks."""

    dim: int
    r_reps: int = 20
    k_sim: int = 5
    d_proj: int | None = 16
    final_dim: int | None = None
    seed: int = 42

    def __post_init__(self) -> None:
        if self.dim <= 0 or self.r_reps <= 0:
            raise ValueError("dim and r_reps must be positive")
        if not 0 <= self.k_sim <= 8:
            # Bucket ids and sign codes are kept in one byte.
            raise ValueError("k_sim must be between 0 and 8")
        if self.d_proj is not None and self.d_proj <= 0:
            raise ValueError("d_proj must be positive (or None for no projection)")
        if self.final_dim is not None and self.final_dim <= 0:
            raise ValueError("final_dim must be positive")

    @property
    def n_buckets(self) -> int:
        return 1 << self.k_sim

    @property
    def block_dim(self) -> int:
        """Dimensions per bucket: d_proj, or the token dimension without projection."""
        return self.d_proj if self.d_proj is not None else self.dim

    @property
    def fde_dim(self) -> int:
        """Length of the concatenated repetitions, before the optional final projection."""
        return self.r_reps * self.n_buckets * self.block_dim

    @property
    def output_dim(self) -> int:
        return self.final_dim if self.final_dim is not None else self.fde_dim


class FDE:
    """Encoder for one FDEConfig; all random matrices are drawn once from ``config.seed``."""

    def __init__(self, config: FDEConfig) -> None:
        self.config = config
        cfg = config
        rng = np.random.default_rng(cfg.seed)
        self._simhash = rng.standard_normal((cfg.dim, cfg.r_reps * cfg.k_sim)).astype(np.float32)
        self._projection: np.ndarray | None = None
        if cfg.d_proj is not None:
            pm_one = np.array([-1.0, 1.0], dtype=np.float32)
            signs = rng.choice(pm_one, size=(cfg.dim, cfg.r_reps * cfg.d_proj))
            self._projection = signs / np.float32(np.sqrt(cfg.d_proj))
        # Bit weights: the first hyperplane is the most significant bit.
        self._bit_weights = (1 << np.arange(cfg.k_sim - 1, -1, -1)).astype(np.int64)
        buckets = np.arange(cfg.n_buckets, dtype=np.uint8)
        self._bucket_patterns = buckets ^ (buckets >> 1)
        self._sketch: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None
        if cfg.final_dim is not None:
            target = rng.integers(0, cfg.final_dim, size=cfg.fde_dim)
            sign = rng.choice(np.array([-1.0, 1.0], dtype=np.float32), size=cfg.fde_dim)
            order = np.argsort(target, kind="stable")
            sorted_target = target[order]
            starts = np.flatnonzero(np.r_[True, sorted_target[1:] != sorted_target[:-1]])
            self._sketch = (order, sign[order], starts, sorted_target[starts])

    def in_basis(self, basis: np.ndarray) -> FDE:
        """An encoder for tokens given as coordinates ``c`` in a basis ``B`` ``(dim, k)`` of a subspace:
        ``in_basis(B).encode_documents([c])`` equals ``encode_documents([c @ B.T])`` without forming the
        ``dim``-wide tokens (the hyperplanes and projection are folded into the basis once). The index
        encodes stored token codes this way; queries stay in ``dim``."""
        basis = np.asarray(basis, dtype=np.float32)
        if basis.ndim != 2 or basis.shape[0] != self.config.dim:
            raise ValueError(f"basis must be ({self.config.dim}, k)")
        if self._projection is None:  # blocks would be the basis' width, not dim: no folding then
            raise ValueError("in_basis needs an FDE with an inner projection (d_proj)")
        folded = copy.copy(self)
        folded.config = replace(self.config, dim=basis.shape[1])
        folded._simhash = np.ascontiguousarray(basis.T @ self._simhash)
        if self._projection is not None:
            folded._projection = np.ascontiguousarray(basis.T @ self._projection)
        return folded

    # -- public API -------------------------------------------------------------------------------------

    @property
    def hyperplanes(self) -> np.ndarray:
        """SimHash hyperplanes, ``(dim, r_reps * k_sim)``: columns ``r*k_sim .. r*k_sim + k_sim - 1`` belong
        to repetition r, the first of them giving the most significant bit."""
        return self._simhash

    @property
    def projection(self) -> np.ndarray | None:
        """Inner +-1/sqrt(d_proj) projection, ``(dim, r_reps * d_proj)`` (None without projection)."""
        return self._projection

    def encode_query(self, tokens: np.ndarray) -> np.ndarray:
        """FDE of one query (bucket sums): ``(output_dim,)`` float32."""
        return self.encode_queries([tokens])[0]

    def encode_document(self, tokens: np.ndarray) -> np.ndarray:
        """FDE of one document (bucket means, empty buckets filled): ``(output_dim,)`` float32."""
        return self.encode_documents([tokens])[0]

    def encode_queries(self, queries: Sequence[np.ndarray]) -> np.ndarray:
        """Batched query FDEs: ``(n_queries, output_dim)`` float32."""
        return self._encode_many(queries, is_query=True)

    def encode_documents(self, docs: Sequence[np.ndarray]) -> np.ndarray:
        """Batched document FDEs: ``(n_docs, output_dim)`` float32. A document without tokens encodes to 0."""
        return self._encode_many(docs, is_query=False)

    def sign_codes(self, tokens: np.ndarray) -> np.ndarray:
        """SimHash sign pattern of each token per repetition as an integer: ``(n_tokens, r_reps)``."""
        return self._codes(np.asarray(tokens, dtype=np.float32))[0].astype(np.int64)

    def bucket_ids(self, tokens: np.ndarray) -> np.ndarray:
        """Bucket of each token per repetition (Gray-decoded sign pattern): ``(n_tokens, r_reps)``."""
        return self._codes(np.asarray(tokens, dtype=np.float32))[1].astype(np.int64)

    # -- internals --------------------------------------------------------------------------------------

    def _codes(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Sign pattern and bucket id of each token per repetition, both ``(T, R)`` uint8."""
        cfg = self.config
        if cfg.k_sim == 0:
            zeros = np.zeros((len(x), cfg.r_reps), dtype=np.uint8)
            return zeros, zeros
        bits = (x @ self._simhash > 0).reshape(len(x), cfg.r_reps, cfg.k_sim)
        sign = np.packbits(bits, axis=-1, bitorder="big")[..., 0] >> np.uint8(8 - cfg.k_sim)
        # Gray -> binary: binary bit i is the XOR of Gray bits 0..i; three shift-XORs cover 8 bits.
        bucket = sign.copy()
        for shift in (1, 2, 4):
            bucket ^= bucket >> np.uint8(shift)
        return sign, bucket

    def _encode_many(self, items: Sequence[np.ndarray], *, is_query: bool) -> np.ndarray:
        cfg = self.config
        out = np.zeros((len(items), cfg.output_dim), dtype=np.float32)
        # Whole documents go into chunks of about _CHUNK_TOKENS tokens (and at most _CHUNK_DOCS
        # documents); each chunk is one vectorised pass with bounded memory.
        lengths = np.array([len(t) for t in items], dtype=np.int64)
        start = 0
        while start < len(items):
            stop = start + 1
            total = lengths[start]
            while (
                stop < len(items) and stop - start < _CHUNK_DOCS and total + lengths[stop] <= _CHUNK_TOKENS
            ):
                total += lengths[stop]
                stop += 1
            block = self._encode_chunk(items[start:stop], lengths[start:stop], is_query=is_query)
            out[start:stop] = self._final_projection(block)
            start = stop
        return out

    def _encode_chunk(
        self, items: Sequence[np.ndarray], lengths: np.ndarray, *, is_query: bool
    ) -> np.ndarray:
        cfg = self.config
        n_docs, reps, n_buckets, width = len(items), cfg.r_reps, cfg.n_buckets, cfg.block_dim
        n_cells = n_docs * reps * n_buckets
        if lengths.sum() == 0:
            return np.zeros((n_docs, cfg.fde_dim), dtype=np.float32)
        x = np.concatenate([np.asarray(t, dtype=np.float32).reshape(-1, cfg.dim) for t in items])
        n_tokens = len(x)
        doc_of_token = np.repeat(np.arange(n_docs), lengths)
        sign, bucket = self._codes(x)
        # Row t*R + r holds token t as projected for repetition r.
        if self._projection is not None:
            projected = (x @ self._projection).reshape(n_tokens * reps, width)
        else:
            projected = np.repeat(x, reps, axis=0)

        # Cell = (document, repetition, bucket); one weighted bincount per output column sums each cell.
        cell = ((doc_of_token[:, None] * reps + np.arange(reps)) * n_buckets + bucket).ravel()
        columns = np.ascontiguousarray(projected.T, dtype=np.float64)
        sums = np.empty((n_cells, width), dtype=np.float32)
        for j in range(width):
            sums[:, j] = np.bincount(cell, weights=columns[j], minlength=n_cells)
        if is_query:
            return sums.reshape(n_docs, cfg.fde_dim)

        counts = np.bincount(cell, minlength=n_cells)
        filled = counts > 0
        sums[filled] /= counts[filled, None]
        empty = np.flatnonzero(~filled & np.repeat(lengths > 0, reps * n_buckets))
        if len(empty):
            token = self._hamming_nearest_tokens(cell, empty, n_cells, n_tokens)
            sums[empty] = projected[token * reps + (empty // n_buckets) % reps]
        return sums.reshape(n_docs, cfg.fde_dim)

    def _hamming_nearest_tokens(
        self, cell: np.ndarray, empty: np.ndarray, n_cells: int, n_tokens: int
    ) -> np.ndarray:
        """For each empty cell: the first token of the same document whose sign pattern is nearest in
        Hamming distance to the cell's bucket pattern.

        Tokens sharing a bucket share its pattern, so it suffices to compare the empty bucket with the
        document's occupied buckets (B x B work per document and repetition, not tokens x B), remembering
        the first token of each occupied bucket for the tie-break.
        """
        n_buckets = self.config.n_buckets
        reps = self.config.r_reps
        first = np.full(n_cells, n_tokens, dtype=np.int64)
        np.minimum.at(first, cell, np.repeat(np.arange(n_tokens), reps))
        occupied_first = first.reshape(-1, n_buckets)[empty // n_buckets]  # (E, B)
        patterns = self._bucket_patterns
        hamming = _POPCOUNT[patterns[:, None] ^ patterns[None, :]].astype(np.int64)  # (B, B)
        # One integer orders by (distance, token): the minimum picks the nearest bucket, first token on ties.
        key = hamming[empty % n_buckets] * (n_tokens + 1) + occupied_first
        key[occupied_first == n_tokens] = np.iinfo(np.int64).max
        return occupied_first[np.arange(len(empty)), key.argmin(axis=1)]

    def _final_projection(self, block: np.ndarray) -> np.ndarray:
        """Count-Sketch: coordinate i goes to a random output slot with a random sign."""
        if self._sketch is None:
            return block
        order, sign, starts, targets = self._sketch
        out = np.zeros((len(block), self.config.output_dim), dtype=np.float32)
        out[:, targets] = np.add.reduceat(block[:, order] * sign, starts, axis=1)
        return out
