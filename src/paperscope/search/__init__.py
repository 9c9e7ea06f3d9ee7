"""paperscope.search: query -> ranked papers (bm25, dense, late interaction, hybrid fusion).

    engine = SearchEngine(store_engine, settings)      # keep it: indexes and encoder load once
    result = engine.search("late interaction retrieval", mode="hybrid", k=10)

`search(...)` is the one-shot form for scripts and the CLI.
"""

from __future__ import annotations

import sqlalchemy as sa

from paperscope.search.engine import SearchConfig, SearchEngine
from paperscope.search.types import MODES, Mode, SearchFilters, SearchHit, SearchResult
from paperscope.settings import Settings


def search(engine: sa.Engine, settings: Settings, query: str, *, mode: Mode = "hybrid", k: int = 10,
           offset: int = 0, filters: SearchFilters | None = None,
           threshold: float | None = None) -> SearchResult:
    """Rank papers for a natural-language `query`.

    `mode`: bm25 | dense | late | hybrid; vector modes fall back to bm25 (with a note in
    `result.notes`) while no vector index exists. `k`/`offset` page the ranking. `filters` restrict
    categories, listing dates and authors in every mode. `threshold` (0-1) drops hits whose calibrated
    probability of relevance is lower and sets `no_good_answer` when none is left.

    Opens the indexes for this one call; callers that search repeatedly should keep a SearchEngine.
    """
    return SearchEngine(engine, settings).search(query, mode=mode, k=k, offset=offset, filters=filters,
                                                 threshold=threshold)


__all__ = ["MODES", "Mode", "SearchConfig", "SearchEngine", "SearchFilters", "SearchHit", "SearchResult",
           "search"]
