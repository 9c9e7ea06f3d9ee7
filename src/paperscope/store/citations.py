"""Citation data (OpenAlex): cited-by counts, references, and the citation links between papers here."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from paperscope.store.schema import openalex_references, openalex_works, papers

JOB = "citations.openalex"  # the job_state checkpoint: {"last_rowid": ...}


@dataclass(frozen=True)
class WorkCitations:
    """What OpenAlex says about one paper of the store."""

    rowid: int
    openalex_id: str
    cited_by_count: int
    references: tuple[str, ...]  # OpenAlex work ids


def arxiv_papers_after(engine: sa.Engine, after_rowid: int, limit: int) -> list[tuple[int, str]]:
    """(row id, arXiv id) of the next papers with an arXiv id, in row-id order."""
    stmt = (sa.select(papers.c.id, papers.c.arxiv_id).where(papers.c.id > after_rowid,
                                                            papers.c.arxiv_id.is_not(None))
            .order_by(papers.c.id).limit(limit))
    with engine.connect() as conn:
        return [(int(r[0]), str(r[1])) for r in conn.execute(stmt)]


def save_citations(engine: sa.Engine, works: Iterable[WorkCitations], now: datetime | None = None) -> int:
    """Store (replace) each paper's work id, count and references in one transaction; returns how many."""
    now = now or datetime.now(UTC)
    items = list(works)
    if not items:
        return 0
    rowids = [w.rowid for w in items]
    with engine.begin() as conn:
        conn.execute(openalex_references.delete().where(openalex_references.c.citing.in_(rowids)))
        conn.execute(openalex_works.delete().where(sa.or_(
            openalex_works.c.paper.in_(rowids),
            openalex_works.c.openalex_id.in_([w.openalex_id for w in items]))))
        conn.execute(openalex_works.insert(), [
            {"paper": w.rowid, "openalex_id": w.openalex_id, "cited_by_count": w.cited_by_count,
             "fetched_at": now} for w in items])
        refs = [{"citing": w.rowid, "cited": ref} for w in items for ref in dict.fromkeys(w.references)]
        if refs:
            conn.execute(openalex_references.insert(), refs)
    return len(items)


@dataclass(frozen=True)
class PaperCitations:
    """A paper's citation picture: OpenAlex's counts, and the links to papers of this store."""

    openalex_id: str | None
    cited_by_count: int | None
    references_count: int
    prior: list[int]  # row ids of papers here that this paper cites
    derivative: list[int]  # row ids of papers here that cite this paper


def paper_citations(engine: sa.Engine, rowid: int) -> PaperCitations:
    """Everything the paper page shows about citations (three small queries)."""
    with engine.connect() as conn:
        work = conn.execute(sa.select(openalex_works.c.openalex_id, openalex_works.c.cited_by_count)
                            .where(openalex_works.c.paper == rowid)).first()
        refs = openalex_references.alias("r")
        cited_here = openalex_works.alias("w")
        prior = [int(r[0]) for r in conn.execute(
            sa.select(cited_here.c.paper).join(refs, refs.c.cited == cited_here.c.openalex_id)
            .where(refs.c.citing == rowid).order_by(cited_here.c.cited_by_count.desc()))]
        count = int(conn.execute(sa.select(sa.func.count()).select_from(openalex_references)
                                 .where(openalex_references.c.citing == rowid)).scalar_one())
        derivative: list[int] = []
        if work is not None:
            derivative = [int(r[0]) for r in conn.execute(
                sa.select(openalex_references.c.citing).where(openalex_references.c.cited == work[0])
                .order_by(openalex_references.c.citing.desc()))]
    return PaperCitations(openalex_id=work[0] if work else None,
                          cited_by_count=int(work[1]) if work else None, references_count=count,
                          prior=prior, derivative=derivative)


def cited_by_counts(engine: sa.Engine, rowids: Sequence[int]) -> dict[int, int]:
    """OpenAlex cited-by counts of these papers (papers never looked up are left out)."""
    if not rowids:
        return {}
    with engine.connect() as conn:
        return {int(p): int(c) for p, c in conn.execute(
            sa.select(openalex_works.c.paper, openalex_works.c.cited_by_count)
            .where(openalex_works.c.paper.in_(list(rowids))))}
