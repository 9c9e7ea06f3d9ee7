"""Papers -> encoder -> compressed vectors in the store: the one place the model runs over papers.

Each batch (its vectors and, the first time, the codec that decodes them) is one store transaction, so a
kill at any point loses nothing and, since a paper has at most one embedding per model, doubles nothing.
Papers are taken newest listing first: what people look at first becomes searchable first.

Which stored model a run writes to is `resolve_model`'s job: the configured encoder's identity plus the
storage spec (token reduction, pooling) name one `embedding_models` row; vectors of another model or
spec are never mixed in, and a store that holds another model's vectors is refused with the way out.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import sqlalchemy as sa

from paperscope.embed import Encoded, Encoder, EncoderIdentity, paper_text
from paperscope.index.token_codec import TokenCodec
from paperscope.store.embeddings import (
    CodecConflict,
    EmbeddingModel,
    NewEmbedding,
    PaperText,
    count_embeddings,
    delete_model,
    get_model,
    get_or_create_model,
    list_models,
    papers_to_embed,
    write_embeddings,
)

# Token rows are projected to this many dims before int8 (index/token_codec.py).
REDUCED_DIM = 128
DEFAULT_POOL_FACTOR = 2


class ModelMismatch(ValueError):
    """The store's embeddings were made by another model or storage spec than the one asked for."""


@dataclass(frozen=True)
class EmbeddingSpec:
    """What decides the stored vectors: the encoder (name + fingerprint), its dimension and how token
    rows are reduced and pooled. Its hash keys the `embedding_models` row."""

    model: str
    fingerprint: str
    dim: int
    reduced_dim: int = REDUCED_DIM
    token_pool_factor: int = DEFAULT_POOL_FACTOR

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def hash(self) -> str:
        return hashlib.sha256(json.dumps(self.as_dict(), sort_keys=True).encode()).hexdigest()[:32]


def identity_of(encoder: Encoder) -> EncoderIdentity:
    """The identity `load_encoder` gave an encoder; an encoder made otherwise is known by name alone."""
    identity = getattr(encoder, "identity", None)
    return identity if isinstance(identity, EncoderIdentity) else EncoderIdentity(encoder.name, "")


def _is_of(model: EmbeddingModel, identity: EncoderIdentity) -> bool:
    return model.spec.get("model") == identity.name and model.spec.get("fingerprint") == identity.fingerprint


def current_model(engine: sa.Engine, identity: EncoderIdentity) -> EmbeddingModel | None:
    """The newest stored model made by this encoder (None when it has embedded nothing yet)."""
    mine = [m for m in list_models(engine) if _is_of(m, identity)]
    return mine[-1] if mine else None


def resolve_model(engine: sa.Engine, identity: EncoderIdentity, dim: int, *, pool_factor: int | None = None,
                  reencode: bool = False) -> EmbeddingModel:
    """The stored model this encoder writes to, created when new.

    `pool_factor` None keeps whatever the store has (default 2 for a new one). A different pool factor,
    or a store holding another model's vectors, raises `ModelMismatch` naming the way out; `reencode`
    takes it: every stored embedding is dropped and a fresh model row started.
    """
    # A model narrower than REDUCED_DIM keeps all its dimensions (the projection cannot add any).
    spec = EmbeddingSpec(identity.name, identity.fingerprint, dim, reduced_dim=min(REDUCED_DIM, dim),
                         token_pool_factor=pool_factor or DEFAULT_POOL_FACTOR)
    if reencode:
        for model in list_models(engine):
            delete_model(engine, model.id)
        return get_or_create_model(engine, identity.name, spec.hash(), spec.as_dict())
    existing = current_model(engine, identity)
    if existing is not None:
        stored = int(existing.spec.get("token_pool_factor", DEFAULT_POOL_FACTOR))
        if pool_factor is None or pool_factor == stored:
            return existing
        raise ModelMismatch(f"the stored embeddings keep one token vector per {stored} tokens, not "
                            f"{pool_factor}; that is part of what the encoder wrote, so run "
                            "`paperscope index --reencode` to encode every paper again with the new setting")
    others = [(m, count_embeddings(engine, m.id)) for m in list_models(engine)]
    others = [(m, n) for m, n in others if n > 0]
    if others:
        model, n = others[-1]
        raise ModelMismatch(f"the store holds embeddings of model {model.name!r} ({n:,} papers, "
                            f"fingerprint {model.spec.get('fingerprint') or '?'}), but this installation "
                            f"is configured for {identity.name!r} ({identity.fingerprint or '?'}); vectors "
                            "of two models cannot be mixed. Set PAPERSCOPE_MODEL back, or run "
                            "`paperscope index --reencode` to replace them")
    return get_or_create_model(engine, identity.name, spec.hash(), spec.as_dict())


def embedding_rows(rowids: list[int], encoded: list[Encoded], codec: TokenCodec,
                   pool_factor: int) -> list[NewEmbedding]:
    """Encoder output as the rows the store keeps: the pooled vector as f16, the token rows compressed
    by the model's codec. Every embedder (this one, a Ray worker) writes through here."""
    return [NewEmbedding(rowid, np.asarray(e.pooled, dtype=np.float16).tobytes(),
                         codec.compress(e.tokens, pool_factor).tobytes())
            for rowid, e in zip(rowids, encoded, strict=True)]


@dataclass
class EmbedReport:
    """What one embedding run did."""

    added: int = 0
    seconds: float = 0.0
    encode_seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.added / self.seconds if self.seconds > 0 else 0.0


class Embedder:
    """Encodes papers that have no embedding under `model` and stores the result, a batch at a time."""

    def __init__(self, engine: sa.Engine, encoder: Encoder, model: EmbeddingModel) -> None:
        self.engine, self.encoder, self.model = engine, encoder, model
        self.pool_factor = int(model.spec.get("token_pool_factor", DEFAULT_POOL_FACTOR))
        self.reduced_dim = int(model.spec.get("reduced_dim", REDUCED_DIM))
        self._codec = TokenCodec.from_bytes(model.codec) if model.codec is not None else None

    def embed_batch(self, size: int) -> tuple[int, float]:
        """Encode and store up to `size` papers; returns (how many were stored, seconds spent encoding).
        0 means nothing is left to embed."""
        return self.embed_papers(papers_to_embed(self.engine, self.model.id, size))

    def embed_papers(self, todo: list[PaperText]) -> tuple[int, float]:
        """Encode and store these papers as one batch (the first fits the codec); returns (how many were
        handled, seconds spent encoding)."""
        if not todo:
            return 0, 0.0
        t = time.perf_counter()
        encoded = self.encoder.encode_documents([paper_text(p.title, p.abstract) for p in todo])
        encode_s = time.perf_counter() - t
        new_codec: bytes | None = None
        if self._codec is None:
            sample = TokenCodec.fit_sample([e.tokens for e in encoded], self.reduced_dim)
            self._codec = TokenCodec.fit(sample, self.encoder.dim, self.reduced_dim)
            new_codec = self._codec.to_bytes()
        for _attempt in range(2):
            rows = embedding_rows([p.rowid for p in todo], encoded, self._codec, self.pool_factor)
            try:
                write_embeddings(self.engine, self.model.id, rows, codec=new_codec)
                if new_codec is not None:
                    self.model = replace(self.model, codec=new_codec)
                return len(rows), encode_s
            except CodecConflict:
                # Another embedder fitted the codec first: use theirs (the vectors are still in hand).
                stored = get_model(self.engine, self.model.id)
                if stored is None or stored.codec is None:
                    raise
                self.model, self._codec, new_codec = stored, TokenCodec.from_bytes(stored.codec), None
        raise RuntimeError("could not store embeddings")  # pragma: no cover - two conflicts in a row

    def run(self, *, limit: int | None = None, batch_size: int = 256,
            on_progress: Callable[[int], None] | None = None,
            should_stop: Callable[[], bool] | None = None) -> EmbedReport:
        """Embed until nothing is left, `limit` papers are done or `should_stop()` says so."""
        report = EmbedReport()
        start = time.perf_counter()
        while limit is None or report.added < limit:
            if should_stop is not None and should_stop():
                break
            size = batch_size if limit is None else min(batch_size, limit - report.added)
            added, encode_s = self.embed_batch(size)
            if added == 0:
                break
            report.added += added
            report.encode_seconds += encode_s
            if on_progress is not None:
                on_progress(report.added)
        report.seconds = time.perf_counter() - start
        return report
