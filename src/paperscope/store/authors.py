"""Reads for author lookups: each paper's author list, in row-id order, from a row id on."""

from __future__ import annotations

from collections.abc import Iterator

import sqlalchemy as sa

from paperscope.store.schema import papers


def author_lists(engine: sa.Engine, after_rowid: int = 0, batch_size: int = 5000
                 ) -> Iterator[tuple[int, list[str]]]:
    """(row id, authors) of every paper above `after_rowid`, in row-id order (hidden ones too: pages
    leave those out when they show papers)."""
    last = after_rowid
    while True:
        stmt = (sa.select(papers.c.id, papers.c.authors)
                .where(papers.c.id > last)
                .order_by(papers.c.id).limit(batch_size))
        with engine.connect() as conn:
            rows = conn.execute(stmt).all()
        for rowid, authors in rows:
            yield int(rowid), [str(a) for a in (authors or []) if a]
        if len(rows) < batch_size:
            return
        last = int(rows[-1][0])
