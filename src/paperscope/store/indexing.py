"""Reads the indexing pipeline needs beyond the general paper reads."""

from __future__ import annotations

import sqlalchemy as sa

from paperscope.store.schema import papers


def count_papers_after(engine: sa.Engine, after_rowid: int) -> int:
    """How many papers have a row id above `after_rowid` (the ones an index checkpoint has not seen)."""
    with engine.connect() as conn:
        return int(conn.execute(
            sa.select(sa.func.count()).select_from(papers).where(papers.c.id > after_rowid)).scalar_one())
