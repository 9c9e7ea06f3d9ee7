"""Looking papers up in a test store."""

from __future__ import annotations

import sqlalchemy as sa

from paperscope.store import get_paper


def rowid(engine: sa.Engine, paper_id: str) -> int:
    """The store row id of the paper `paper_id`; fails the test when the paper is not stored."""
    p = get_paper(engine, paper_id)
    assert p is not None and p.rowid is not None
    return p.rowid
