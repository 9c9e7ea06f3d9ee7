"""Stand-in embeddings for papers the benchmark did not encode, written to the store like real ones.

Encoding all 74.7k snapshot papers takes 35-50 min on 2 cores, so scale benchmarks encode N papers for
real and give every other paper the stored vectors of a random encoded paper plus Gaussian noise
(token rows: noise in the decoded reduced space, then quantised with the same codec; pooled vector: noise,
then normalised; cosine ~0.9 to the original, so no two are identical). Row counts, byte sizes and the
index work per paper are those of real papers; quality figures on stand-ins mean nothing.
"""

from __future__ import annotations

import numpy as np
import sqlalchemy as sa

from paperscope.index.token_codec import TokenCodec
from paperscope.store.embeddings import (
    EmbeddingModel,
    NewEmbedding,
    embedded_papers,
    embeddings_of,
    papers_to_embed,
    write_embeddings,
)


def fill_with_standins(engine: sa.Engine, model: EmbeddingModel, *, seed: int = 0, batch: int = 2000,
                       limit: int | None = None) -> int:
    """Give every paper without an embedding under `model` a stand-in (at most `limit`); returns how
    many were written. Resumable: each batch is one transaction."""
    assert model.codec is not None, "encode some papers for real first"
    codec = TokenCodec.from_bytes(model.codec)
    real = embeddings_of(engine, model.id, embedded_papers(engine, model.id)[:5000])
    dim = int(model.spec["dim"])
    pooled_real = [np.frombuffer(r.pooled, np.float16).astype(np.float32) for r in real]
    coords_real = [codec.decode(np.frombuffer(r.tokens, np.int8)) for r in real]
    rng = np.random.default_rng(seed)
    sigma = 0.5 / np.sqrt(dim)
    written = 0
    while limit is None or written < limit:
        todo = papers_to_embed(engine, model.id, batch if limit is None else min(batch, limit - written))
        if not todo:
            break
        rows = []
        for paper in todo:
            j = int(rng.integers(len(real)))
            coords = coords_real[j] + rng.normal(0, sigma, coords_real[j].shape).astype(np.float32)
            pooled = pooled_real[j] + rng.normal(0, sigma, dim).astype(np.float32)
            pooled /= np.linalg.norm(pooled)
            rows.append(NewEmbedding(paper.rowid, pooled.astype(np.float16).tobytes(),
                                     codec.quantise(coords).tobytes()))
        write_embeddings(engine, model.id, rows)
        written += len(rows)
    return written
