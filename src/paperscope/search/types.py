"""The search contract every caller (web, feed, mail, CLI) uses: request filters and ranked hits."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Literal

Mode = Literal["bm25", "dense", "late", "hybrid"]
MODES: tuple[Mode, ...] = ("bm25", "dense", "late", "hybrid")


@dataclass(frozen=True)
class SearchFilters:
    """Restrict results: any of these categories, a listing-date range (inclusive), an author substring,
    or papers by any of these exact stored author spellings (`authors.AuthorDirectory` finds them)."""

    categories: tuple[str, ...] = ()
    date_from: date | None = None
    date_to: date | None = None
    author: str | None = None
    author_names: tuple[str, ...] = ()


@dataclass(frozen=True)
class SearchHit:
    """One ranked paper. `score` is the mode's final score; `components` the per-mode scores behind it."""

    rowid: int
    paper_id: str
    score: float
    components: dict[str, float] = field(default_factory=dict)
    matched_terms: tuple[str, ...] = ()  # query terms found in the paper, for highlighting


@dataclass(frozen=True)
class Coverage:
    """How much of the store the vector indexes hold: semantic modes rank only `indexed` of `papers` (the
    rest still come through bm25 in hybrid) while the background embedder fills in."""

    indexed: int
    papers: int

    @property
    def complete(self) -> bool:
        return self.indexed >= self.papers

    def as_json(self) -> dict[str, int | bool]:
        return {"indexed": self.indexed, "papers": self.papers, "complete": self.complete}


@dataclass
class SearchResult:
    """A page of hits. `no_good_answer` is set when a relevance threshold removed everything."""

    query: str
    mode: Mode
    hits: list[SearchHit]
    offset: int = 0
    total: int = 0  # hits available before paging (capped by the engine's candidate depth)
    no_good_answer: bool = False
    timings_ms: dict[str, float] = field(default_factory=dict)
    # Things the user should know, e.g. "no vector index yet: hybrid fell back to bm25".
    notes: list[str] = field(default_factory=list)
    # How much of the store the semantic modes could rank (None where nobody asked).
    coverage: Coverage | None = None

