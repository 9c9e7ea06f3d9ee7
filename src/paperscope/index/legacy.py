"""Index folders written before embeddings were stored: their vectors move into the store once.

Such a folder kept `manifest.json`, `pooled.usearch`, `fde.usearch` and `tokens/` directly under
`index/`, and nothing in the database. Its token codes and codec are exactly what the store now keeps and
its pooled HNSW holds the pooled vectors (f16), so an upgrade copies them into `paper_embeddings` instead
of encoding every paper again; the next sync then rebuilds the new layout from the store and removes the
old files.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import sqlalchemy as sa

from paperscope.embed import EncoderIdentity
from paperscope.index.ann import AnnIndex
from paperscope.index.embedder import EmbeddingSpec, current_model
from paperscope.index.tokens import TokenStore
from paperscope.store.embeddings import NewEmbedding, get_or_create_model, papers_present, write_embeddings


def import_legacy_index(engine: sa.Engine, root: Path, identity: EncoderIdentity, batch: int = 2000) -> int:
    """Copy a pre-0008 index folder's vectors into the store when they were made by the configured
    encoder and the store holds none of its embeddings yet; returns how many papers were copied."""
    manifest_path, tokens_dir, pooled_path = root / "manifest.json", root / "tokens", root / "pooled.usearch"
    if not (manifest_path.is_file() and TokenStore.exists(tokens_dir) and pooled_path.is_file()):
        return 0
    spec = json.loads(manifest_path.read_text()).get("spec", {})
    if spec.get("model") != identity.name or current_model(engine, identity) is not None:
        return 0
    tokens = TokenStore.open(tokens_dir)
    if tokens.codec is None or not len(tokens):
        return 0
    pooled = AnnIndex.open(pooled_path)
    embedding_spec = EmbeddingSpec(identity.name, identity.fingerprint, tokens.dim, tokens.reduced_dim,
                                   tokens.pool_factor)
    model = get_or_create_model(engine, identity.name, embedding_spec.hash(), embedding_spec.as_dict())
    codec = tokens.codec.to_bytes()
    keys = sorted(tokens.keys())
    copied = 0
    for i in range(0, len(keys), batch):
        part = [k for k in papers_present(engine, keys[i:i + batch]) if k in pooled]
        vectors = pooled.stored_vectors(np.asarray(part, dtype=np.int64))
        rows = [NewEmbedding(k, np.asarray(v, dtype=np.float16).tobytes(), tokens.get_codes(k).tobytes())
                for k, v in zip(part, vectors, strict=True)]
        copied += write_embeddings(engine, model.id, rows, codec=codec if i == 0 else None)
    return copied
