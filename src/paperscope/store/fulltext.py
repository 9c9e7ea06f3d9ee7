"""Lexical search over papers: SQLite FTS5 (BM25) or PostgreSQL full text (weighted ts_rank_cd).

The indexes themselves are created and kept in sync by triggers (migration 0002); this module only
turns a user's natural-language query into a safe OR query and applies the search filters in SQL.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa

# Field weights: a term in the title counts most, then the abstract, then an author name.
# SQLite FTS5 bm25() takes one weight per column (title, abstract, authors); tuned on SciFact train.
FTS5_WEIGHTS = (2.0, 1.0, 0.5)
# PostgreSQL ts_rank_cd weights are given as {D, C, B, A}; authors are C, abstract B, title A.
PG_WEIGHTS = "{0.1, 0.2, 0.4, 1.0}"

_WORD = re.compile(r"\w+", re.UNICODE)
# Very common English words add cost (they match nearly everything) and no ranking signal.
_STOPWORDS = frozenset((
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "can", "do", "does", "for", "from", "has", "have",
    "how", "in", "into", "is", "it", "its", "of", "on", "or", "our", "that", "the", "this", "to", "was", "we",
    "were", "what", "when", "where", "which", "who", "why", "with",
))
_MAX_TERMS = 64


@dataclass(frozen=True)
class TextFilters:
    """The store-level form of the search filters (the search layer maps its own type onto this)."""

    categories: tuple[str, ...] = ()
    date_from: date | None = None
    date_to: date | None = None
    author: str | None = None
    author_names: tuple[str, ...] = ()  # exact stored spellings, any of them

    @property
    def active(self) -> bool:
        return bool(self.categories or self.date_from or self.date_to or (self.author or "").strip()
                    or self.author_names)


def query_terms(text: str) -> list[str]:
    """The words of a user's query, lower-cased, stopwords and duplicates dropped, in order.

    Only runs of letters/digits survive, so FTS syntax and punctuation in user input can never reach
    the query parser (a garbage query simply matches nothing).
    """
    words = [w.lower() for w in _WORD.findall(text)]
    kept = [w for w in dict.fromkeys(words) if w not in _STOPWORDS and w != "_"]
    if not kept:  # a query made only of stopwords still deserves an answer
        kept = [w for w in dict.fromkeys(words) if w != "_"]
    return kept[:_MAX_TERMS]


def _filter_clauses(engine: sa.Engine, rowid: str, filters: TextFilters | None,
                    params: dict[str, Any]) -> list[str]:
    """SQL conditions (on the paper row id expression `rowid`) for the active filters."""
    if filters is None:
        return []
    clauses: list[str] = []
    if filters.categories:
        names = []
        for i, cat in enumerate(filters.categories):
            params[f"cat{i}"] = cat
            names.append(f":cat{i}")
        clauses.append(f"EXISTS (SELECT 1 FROM paper_categories pc WHERE pc.paper = {rowid} "
                       f"AND pc.category IN ({', '.join(names)}))")
    if filters.date_from:
        params["date_from"] = filters.date_from
        clauses.append("p.listed >= :date_from")
    if filters.date_to:
        params["date_to"] = filters.date_to
        clauses.append("p.listed <= :date_to")
    author = (filters.author or "").strip()
    if author:
        # LIKE wildcards in the user's text are matched literally.
        escaped = author.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        params["author"] = f"%{escaped}%"
        if engine.dialect.name == "sqlite":
            clauses.append("EXISTS (SELECT 1 FROM json_each(p.authors) a "
                           "WHERE a.value LIKE :author ESCAPE '\\')")
        else:
            clauses.append("EXISTS (SELECT 1 FROM json_array_elements_text(p.authors) a(name) "
                           "WHERE a.name ILIKE :author ESCAPE '\\')")
    if filters.author_names:
        names = []
        for i, name in enumerate(filters.author_names):
            params[f"aname{i}"] = name
            names.append(f":aname{i}")
        inside = ", ".join(names)
        clauses.append(f"EXISTS (SELECT 1 FROM json_each(p.authors) an WHERE an.value IN ({inside}))"
                       if engine.dialect.name == "sqlite" else
                       f"EXISTS (SELECT 1 FROM json_array_elements_text(p.authors) an(name) "
                       f"WHERE an.name IN ({inside}))")
    return clauses


def search_fulltext(engine: sa.Engine, query: str, *, limit: int = 100,
                    filters: TextFilters | None = None, after_rowid: int = 0) -> list[tuple[int, float]]:
    """Rank papers for `query` (OR over its terms): [(row id, score)], best first, higher is better.

    Scores are BM25 on SQLite and cover-density rank on PostgreSQL; they compare only within one
    query. `after_rowid` limits the search to papers added after that row id (the ones the in-memory
    BM25 index has not seen yet). Never raises on odd input: a query with no usable words returns [].
    """
    terms = query_terms(query)
    if not terms or limit <= 0:
        return []
    params: dict[str, Any] = {"limit": limit}
    if engine.dialect.name == "sqlite":
        params["match"] = " OR ".join(f'"{t}"' for t in terms)
        w_title, w_abstract, w_authors = FTS5_WEIGHTS
        where = ["papers_fts MATCH :match", *_filter_clauses(engine, "papers_fts.rowid", filters, params)]
        if after_rowid:
            params["after"] = after_rowid
            where.append("papers_fts.rowid > :after")
        join = " JOIN papers p ON p.id = papers_fts.rowid" if filters and filters.active else ""
        sql = (f"SELECT papers_fts.rowid AS id, -bm25(papers_fts, {w_title}, {w_abstract}, {w_authors}) "
               f"AS score FROM papers_fts{join} WHERE {' AND '.join(where)} ORDER BY score DESC LIMIT :limit")
    else:
        # Terms are plain words, so joining them with | is a well-formed tsquery; to_tsquery stems them
        # and silently drops stopwords.
        params["tsq"] = " | ".join(terms)
        where = ["s.document @@ q.query", *_filter_clauses(engine, "s.paper", filters, params)]
        if after_rowid:
            params["after"] = after_rowid
            where.append("s.paper > :after")
        join = " JOIN papers p ON p.id = s.paper" if filters and filters.active else ""
        sql = (f"SELECT s.paper AS id, ts_rank_cd('{PG_WEIGHTS}', s.document, q.query, 1) AS score "
               f"FROM paper_search s{join}, to_tsquery('english', :tsq) AS q(query) "
               f"WHERE {' AND '.join(where)} ORDER BY score DESC, s.paper LIMIT :limit")
    with engine.connect() as conn:
        return [(int(r.id), float(r.score)) for r in conn.execute(sa.text(sql), params)]


def filter_rowids(engine: sa.Engine, rowids: Sequence[int], filters: TextFilters | None) -> set[int]:
    """The subset of `rowids` whose papers pass `filters` (all of them when no filter is active)."""
    if filters is None or not filters.active or not rowids:
        return set(rowids)
    kept: set[int] = set()
    ids = list(dict.fromkeys(int(r) for r in rowids))
    with engine.connect() as conn:
        for i in range(0, len(ids), 900):  # SQLite's bound-parameter limit
            params: dict[str, Any] = {}
            chunk = ids[i:i + 900]
            clauses = _filter_clauses(engine, "p.id", filters, params)
            sql = (f"SELECT p.id FROM papers p WHERE p.id IN ({', '.join(str(r) for r in chunk)}) "
                   f"AND {' AND '.join(clauses)}")
            kept.update(int(r[0]) for r in conn.execute(sa.text(sql), params))
    return kept


def rowids_matching(engine: sa.Engine, filters: TextFilters) -> list[int]:
    """Row ids of every paper that passes `filters` (an in-memory index masks its scores with them)."""
    params: dict[str, Any] = {}
    rest = TextFilters(date_from=filters.date_from, date_to=filters.date_to, author=filters.author,
                       author_names=filters.author_names)
    clauses = _filter_clauses(engine, "p.id", rest, params) or ["1 = 1"]
    source = "papers p"
    if filters.categories:
        # Driven from the category rows (one pass over them) rather than an EXISTS probe per paper.
        names = []
        for i, cat in enumerate(filters.categories):
            params[f"cat{i}"] = cat
            names.append(f":cat{i}")
        by_category = f"SELECT DISTINCT paper FROM paper_categories WHERE category IN ({', '.join(names)})"
        if clauses == ["1 = 1"]:
            with engine.connect() as conn:
                return [int(r[0]) for r in conn.execute(sa.text(by_category), params)]
        source = f"({by_category}) c JOIN papers p ON p.id = c.paper"
    with engine.connect() as conn:
        return [int(r[0]) for r in conn.execute(
            sa.text(f"SELECT p.id FROM {source} WHERE {' AND '.join(clauses)}"), params)]


def count_filtered(engine: sa.Engine, filters: TextFilters) -> int:
    """How many papers pass `filters`: lets vector search decide how deep to over-fetch."""
    params: dict[str, Any] = {}
    clauses = _filter_clauses(engine, "p.id", filters, params) or ["1 = 1"]
    with engine.connect() as conn:
        return int(conn.execute(sa.text(f"SELECT count(*) FROM papers p WHERE {' AND '.join(clauses)}"),
                                params).scalar_one())


def matched_terms(query: str, texts: Sequence[str]) -> tuple[str, ...]:
    """Query terms that occur (as a word prefix, so 'network' finds 'networks') in any of `texts`."""
    words = sorted({w for text in texts for w in _WORD.findall(text.lower())})
    found = []
    for term in query_terms(query):
        stem = term[:max(4, len(term) - 2)] if len(term) > 4 else term
        # In sorted order, the first word >= stem is the only candidate that can start with it.
        i = bisect.bisect_left(words, stem)
        if i < len(words) and words[i].startswith(stem):
            found.append(term)
    return tuple(found)
