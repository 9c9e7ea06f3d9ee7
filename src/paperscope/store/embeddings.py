"""Embeddings in the store: per model, each paper's pooled vector and compressed token rows.

The rows are opaque bytes here (the index stage knows their layout); what the store guarantees is that a
batch of embeddings and the codec that decodes them are written in one transaction, that a paper has at
most one embedding per model, and that `seq` tells readers what they have not seen yet.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from paperscope.store.papers import utcnow
from paperscope.store.schema import embedding_models, paper_embeddings, papers


class CodecConflict(RuntimeError):
    """Another embedder fitted this model's codec first; re-read the model and compress again."""


@dataclass(frozen=True)
class EmbeddingModel:
    """One model + storage spec whose embeddings live in the store."""

    id: int
    name: str
    spec_hash: str
    spec: dict[str, Any]
    codec: bytes | None


@dataclass(frozen=True)
class StoredEmbedding:
    """One paper's stored vectors: `pooled` and `tokens` as the index stage encoded them."""

    seq: int
    paper: int
    pooled: bytes
    tokens: bytes


@dataclass(frozen=True)
class PaperText:
    """What the encoder needs of a paper."""

    rowid: int
    title: str
    abstract: str
    listed: date | None


@dataclass(frozen=True)
class NewEmbedding:
    """A paper's vectors to store."""

    paper: int
    pooled: bytes
    tokens: bytes


def _model(row: Any) -> EmbeddingModel:
    return EmbeddingModel(id=int(row.id), name=row.name, spec_hash=row.spec_hash, spec=dict(row.spec),
                          codec=bytes(row.codec) if row.codec is not None else None)


def list_models(engine: sa.Engine) -> list[EmbeddingModel]:
    """Every model the store has embeddings (or a codec) for, oldest first."""
    with engine.connect() as conn:
        return [_model(r) for r in conn.execute(sa.select(embedding_models).order_by(embedding_models.c.id))]


def get_model(engine: sa.Engine, model_id: int) -> EmbeddingModel | None:
    """The model row `model_id`, or None (deleted by a re-encode)."""
    with engine.connect() as conn:
        row = conn.execute(sa.select(embedding_models).where(embedding_models.c.id == model_id)).first()
    return _model(row) if row is not None else None


def get_or_create_model(engine: sa.Engine, name: str, spec_hash: str, spec: dict[str, Any]) -> EmbeddingModel:
    """The model row for `spec_hash`, created (without a codec) if it does not exist yet."""
    with engine.begin() as conn:
        by_hash = sa.select(embedding_models).where(embedding_models.c.spec_hash == spec_hash)
        row = conn.execute(by_hash).first()
        if row is not None:
            return _model(row)
        values = {"name": name, "spec_hash": spec_hash, "spec": spec, "created_at": utcnow()}
        insert = _insert_ignoring_conflicts(conn, embedding_models, [values])
        conn.execute(insert)
        row = conn.execute(by_hash).one()
        return _model(row)


def delete_model(engine: sa.Engine, model_id: int) -> int:
    """Forget a model and all its embeddings; returns how many embeddings went."""
    with engine.begin() as conn:
        gone = conn.execute(paper_embeddings.delete().where(paper_embeddings.c.model == model_id)).rowcount
        conn.execute(embedding_models.delete().where(embedding_models.c.id == model_id))
    return int(gone or 0)


def _insert_ignoring_conflicts(conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]) -> Any:
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table).values(rows).on_conflict_do_nothing()
    return sqlite.insert(table).values(rows).on_conflict_do_nothing()


def write_embeddings(engine: sa.Engine, model_id: int, rows: Sequence[NewEmbedding],
                     codec: bytes | None = None) -> int:
    """Store a batch in one transaction; papers that already have an embedding under this model keep it.

    `codec` is the model's codec when this batch is the first: it is set only if the model has none yet,
    and a different codec already there raises `CodecConflict` (nothing of the batch is written).
    Returns how many rows were new.
    """
    with engine.begin() as conn:
        if codec is not None:
            done = conn.execute(embedding_models.update()
                                .where(embedding_models.c.id == model_id, embedding_models.c.codec.is_(None))
                                .values(codec=codec)).rowcount
            if not done:
                stored = conn.execute(sa.select(embedding_models.c.codec)
                                      .where(embedding_models.c.id == model_id)).scalar_one_or_none()
                if stored is None or bytes(stored) != codec:
                    raise CodecConflict(f"embedding model {model_id} already has another codec")
        if not rows:
            return 0
        values = [{"model": model_id, "paper": r.paper, "pooled": r.pooled, "tokens": r.tokens} for r in rows]
        # Postgres limits one statement to 65,535 parameters: 4 per row.
        added = 0
        for i in range(0, len(values), 5000):
            insert = _insert_ignoring_conflicts(conn, paper_embeddings, values[i:i + 5000])
            # RETURNING counts what was inserted (rowcount is -1 for this statement on psycopg).
            added += len(conn.execute(insert.returning(paper_embeddings.c.paper)).all())
        return int(added)


def _unembedded(model_id: int) -> sa.ColumnElement[bool]:
    return ~sa.exists().where(paper_embeddings.c.model == model_id, paper_embeddings.c.paper == papers.c.id)


def papers_to_embed(engine: sa.Engine, model_id: int, limit: int) -> list[PaperText]:
    """Up to `limit` papers without an embedding under `model_id`, newest listing first (what people look
    at first becomes searchable first), then newest row."""
    query = (sa.select(papers.c.id, papers.c.title, papers.c.abstract, papers.c.listed)
             .where(_unembedded(model_id))
             .order_by(papers.c.listed.desc().nulls_last(), papers.c.id.desc())
             .limit(limit))
    with engine.connect() as conn:
        return [PaperText(int(r.id), r.title, r.abstract, r.listed) for r in conn.execute(query)]


def unembedded_ids(engine: sa.Engine, model_id: int, limit: int | None = None) -> list[int]:
    """Row ids of the papers without an embedding under `model_id`, in `papers_to_embed`'s order: the
    whole work list of a distributed backfill in one query (8 bytes a paper to hold)."""
    query = (sa.select(papers.c.id).where(_unembedded(model_id))
             .order_by(papers.c.listed.desc().nulls_last(), papers.c.id.desc()))
    if limit is not None:
        query = query.limit(limit)
    with engine.connect() as conn:
        return [int(r) for r in conn.execute(query).scalars()]


def paper_texts(engine: sa.Engine, rowids: Sequence[int]) -> list[PaperText]:
    """What the encoder needs of these papers, in the order given (papers gone since are left out)."""
    ids = [int(i) for i in rowids]
    found: dict[int, PaperText] = {}
    with engine.connect() as conn:
        for i in range(0, len(ids), 5000):
            query = (sa.select(papers.c.id, papers.c.title, papers.c.abstract, papers.c.listed)
                     .where(papers.c.id.in_(ids[i:i + 5000])))
            for r in conn.execute(query):
                found[int(r.id)] = PaperText(int(r.id), r.title, r.abstract, r.listed)
    return [found[i] for i in ids if i in found]


def count_unembedded(engine: sa.Engine, model_id: int) -> int:
    """How many papers have no embedding under `model_id`."""
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(papers)
                                .where(_unembedded(model_id))).scalar_one())


def count_embeddings(engine: sa.Engine, model_id: int) -> int:
    """How many papers have an embedding under `model_id`."""
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(paper_embeddings)
                                .where(paper_embeddings.c.model == model_id)).scalar_one())


def max_seq(engine: sa.Engine, model_id: int) -> int:
    """The newest `seq` under `model_id` (0 when there is none): one index probe, cheap to poll."""
    with engine.connect() as conn:
        value = conn.execute(sa.select(sa.func.max(paper_embeddings.c.seq))
                             .where(paper_embeddings.c.model == model_id)).scalar_one()
    return int(value or 0)


def embeddings_after(engine: sa.Engine, model_id: int, after_seq: int, limit: int) -> list[StoredEmbedding]:
    """Up to `limit` embeddings under `model_id` with `seq` above `after_seq`, in `seq` order."""
    query = (sa.select(paper_embeddings.c.seq, paper_embeddings.c.paper, paper_embeddings.c.pooled,
                       paper_embeddings.c.tokens)
             .where(paper_embeddings.c.model == model_id, paper_embeddings.c.seq > after_seq)
             .order_by(paper_embeddings.c.seq).limit(limit))
    with engine.connect() as conn:
        return [StoredEmbedding(int(r.seq), int(r.paper), bytes(r.pooled), bytes(r.tokens))
                for r in conn.execute(query)]


def embeddings_of(engine: sa.Engine, model_id: int, paper_rowids: Sequence[int]) -> list[StoredEmbedding]:
    """The embeddings of these papers under `model_id` (those that have one)."""
    out: list[StoredEmbedding] = []
    ids = list(dict.fromkeys(int(i) for i in paper_rowids))
    with engine.connect() as conn:
        for i in range(0, len(ids), 5000):
            query = (sa.select(paper_embeddings.c.seq, paper_embeddings.c.paper, paper_embeddings.c.pooled,
                               paper_embeddings.c.tokens)
                     .where(paper_embeddings.c.model == model_id,
                            paper_embeddings.c.paper.in_(ids[i:i + 5000])))
            out.extend(StoredEmbedding(int(r.seq), int(r.paper), bytes(r.pooled), bytes(r.tokens))
                       for r in conn.execute(query))
    return out


def embedded_papers(engine: sa.Engine, model_id: int) -> list[int]:
    """Row ids of every paper with an embedding under `model_id`."""
    with engine.connect() as conn:
        return [int(r) for r in conn.execute(sa.select(paper_embeddings.c.paper)
                                             .where(paper_embeddings.c.model == model_id)).scalars()]


def papers_present(engine: sa.Engine, rowids: Sequence[int]) -> list[int]:
    """Those of `rowids` that are papers in the store, in the order given."""
    ids = [int(i) for i in rowids]
    with engine.connect() as conn:
        present = {int(r) for r in conn.execute(sa.select(papers.c.id).where(papers.c.id.in_(ids))).scalars()}
    return [i for i in ids if i in present]
