"""Search: the page (`/search`) and the API (`/api/search`), both over `paperscope.search.search`."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import RedirectResponse, Response

from paperscope.model import Paper, parse_arxiv_id
from paperscope.search.dpp import DEFAULT_THETA, search_diverse
from paperscope.search.engine import SearchEngine
from paperscope.search.types import SearchFilters, SearchHit
from paperscope.store import get_paper, get_papers_by_rowid
from paperscope.store.citations import cited_by_counts
from paperscope.web.app_state import state
from paperscope.web.params import CATEGORY_PATTERN, Format, Limit, Page
from paperscope.web.rendering import JsonResponse, page_or_json, wants_json
from paperscope.web.serialize import paper_json

router = APIRouter()

SearchMode = Literal["bm25", "dense", "late", "hybrid"]
# The page takes a long paste and searches its first MAX_QUERY characters (saying so) rather than
# answering 422; the API keeps the strict limit.
MAX_QUERY = 500
Q = Annotated[str, Query(max_length=20_000, description="What to look for (words, a title, an arXiv id); "
                                                      f"the first {MAX_QUERY} characters are used.")]
Mode = Annotated[SearchMode, Query(description="bm25 (words), dense, late (late interaction), hybrid.")]
Categories = Annotated[list[str] | None, Query(max_length=20, description="Restrict to these categories.")]
DateFrom = Annotated[date | None, Query(description="Listed on or after (YYYY-MM-DD).")]
DateTo = Annotated[date | None, Query(description="Listed on or before (YYYY-MM-DD).")]
Diverse = Annotated[bool, Query(description="Re-rank the top results for diversity (DPP greedy MAP).")]
Theta = Annotated[float, Query(ge=0.0, le=1.0,
                               description="Diversity knob: 1 = relevance only, lower = more diverse.")]
Threshold = Annotated[float | None, Query(
    ge=0.0, le=1.0, description="Drop results whose calibrated probability of relevance is below this; "
    "when none is left, `no_good_answer` is true (vector modes; ignored with a note in bm25).")]
Author = Annotated[str | None, Query(max_length=200, description=(
    "Papers by this person (any spelling: accents and initials optional, e.g. 'K. Sparck Jones')."))]
MAX_RESULTS = 1000
MAX_RESULTS_BY_DATE = 200
# Names people understand, for the page's Mode menu, and what each does (the option's tooltip).
MODE_LABELS = {
    "hybrid": ("Best of all", "Keywords and meaning combined"),
    "bm25": ("Keywords", "Papers that contain your words (BM25)"),
    "dense": ("Meaning", "Papers about the same thing, even in other words (one vector per paper)"),
    "late": ("Precise (late interaction)", "Meaning, matched word by word (multi-vector late interaction)"),
}
Sort = Annotated[Literal["relevance", "newest", "citations"], Query(
    description=f"relevance; newest first among the best {MAX_RESULTS_BY_DATE} matches; or citations: the "
                "best 200 matches ordered by OpenAlex cited-by count (papers never looked up last; "
                "`paperscope ingest citations`).")]
CITATION_DEPTH = 200
_UNSUPPORTED = re.compile(r'"|(?:^|\s)-\w')
_WORD = re.compile(r"[^\W_]", re.UNICODE)  # a letter or digit


def require_words(q: str) -> None:
    """400 for a query with nothing to search for (only punctuation or symbols), instead of an empty page
    that would look like "no paper matches"."""
    if not _WORD.search(q):
        raise HTTPException(status_code=400, detail=f"nothing to search for in {q[:80]!r}: use words")


def execute_search(request: Request, q: str, mode: SearchMode, category: list[str] | None,
                   date_from: date | None, date_to: date | None, page: int, limit: int,
                   diverse: bool = False, theta: float = DEFAULT_THETA,
                   threshold: float | None = None, sort: str = "relevance", author: str | None = None,
                   ) -> tuple[dict[str, Any], list[tuple[Paper, SearchHit]]]:
    """Validate, search, and return the result summary with the ranked papers (two store queries).
    `author` keeps papers by that person under any spelling (accents and initials optional)."""
    page_notes: list[str] = []
    if len(q) > MAX_QUERY:
        q = q[:MAX_QUERY]
        page_notes.append(f"your query was long: its first {MAX_QUERY} characters were searched")
    if _UNSUPPORTED.search(q):
        page_notes.append('quotes and -exclusions are not supported: every word counts, "-" ones included')
    # The page's one text box may hold several categories ("cs.CL cs.LG"); the API may repeat the parameter.
    categories = tuple(dict.fromkeys(c for value in category or [] for c in re.split(r"[\s,]+", value) if c))


    for c in categories:
        if not re.match(CATEGORY_PATTERN, c):
            raise HTTPException(status_code=400, detail=f"not an arXiv category: {c!r}")
    if date_from and date_to and date_from > date_to:
        raise HTTPException(status_code=400, detail="date_from is after date_to")
    offset = (page - 1) * limit
    if offset + limit > MAX_RESULTS:
        raise HTTPException(status_code=400, detail=f"only the first {MAX_RESULTS} results can be paged")
    data: dict[str, Any] = {
        "query": q, "mode": mode, "categories": list(categories),
        "date_from": date_from.isoformat() if date_from else None,
        "date_to": date_to.isoformat() if date_to else None,
        "offset": offset, "limit": limit, "total": 0, "results": [], "no_good_answer": False,
        "available": True, "has_more": False, "diverse": diverse, "theta": theta, "threshold": threshold,
        "sort": sort, "notes": list(page_notes),
        "author": author or None,
    }
    if not q.strip():
        return data, []
    require_words(q)
    st = state(request)
    engine = st.search_engine
    names: tuple[str, ...] = ()
    if author and author.strip():
        names = tuple(sorted(st.author_directory.spellings(author)))
        data["author_spellings"] = list(names)
        if not names:  # nobody by that name: nothing can match
            data["notes"] = [f"no author called {author.strip()!r} in this library"]
            return data, []
    filters = SearchFilters(categories=categories, date_from=date_from, date_to=date_to, author_names=names)
    # One extra hit tells whether a next page exists (the engine's `total` is capped at its depth).
    if sort == "citations":
        return _by_citations(st.engine, engine, data, q, mode, filters, offset, limit, threshold)
    # Newest first re-orders the best MAX_RESULTS_BY_DATE matches by listing date.
    by_date = sort == "newest"
    k, start = (MAX_RESULTS_BY_DATE, 0) if by_date else (limit + 1, offset)
    if diverse and isinstance(engine, SearchEngine):
        result = search_diverse(engine, q, mode=mode, k=k, offset=start, filters=filters,
                                theta=theta, threshold=threshold)
    else:
        result = engine.search(q, mode=mode, k=k, offset=start, filters=filters, threshold=threshold)
    hits = result.hits
    if by_date:
        found = {p.rowid: p for p in get_papers_by_rowid(st.engine, [h.rowid for h in hits])}
        def day(h: SearchHit) -> date:
            return found[h.rowid].listed or found[h.rowid].published or date.min
        hits = sorted((h for h in hits if h.rowid in found), key=day, reverse=True)
        hits = hits[offset:offset + limit + 1]
        papers = found
    has_more = len(hits) > limit
    hits = hits[:limit]
    if not by_date:
        papers = {p.rowid: p for p in get_papers_by_rowid(st.engine, [h.rowid for h in hits])}
    else:
        page_notes.append(f"newest first among the {MAX_RESULTS_BY_DATE} best matches")
    coverage = getattr(result, "coverage", None)
    data["semantic_index"] = coverage.as_json() if coverage is not None else None
    data.update({"mode": result.mode, "total": result.total, "has_more": has_more,
                 "no_good_answer": result.no_good_answer, "timings_ms": result.timings_ms,
                 "notes": page_notes + list(getattr(result, "notes", []) or [])})
    return data, [(papers[h.rowid], h) for h in hits if h.rowid in papers]


def _by_citations(store: Any, engine: SearchEngine, data: dict[str, Any], q: str, mode: SearchMode,
                  filters: SearchFilters, offset: int, limit: int,
                  threshold: float | None) -> tuple[dict[str, Any], list[tuple[Paper, SearchHit]]]:
    """The best CITATION_DEPTH matches, most cited first (relevance breaks ties and orders the rest)."""
    result = engine.search(q, mode=mode, k=CITATION_DEPTH, offset=0, filters=filters, threshold=threshold)
    counts = cited_by_counts(store, [h.rowid for h in result.hits])
    ranked = sorted(result.hits, key=lambda h: -counts.get(h.rowid, -1))  # stable: relevance within ties
    hits = ranked[offset:offset + limit]
    papers = {p.rowid: p for p in get_papers_by_rowid(store, [h.rowid for h in hits])}
    data.update({"mode": result.mode, "total": len(ranked), "has_more": len(ranked) > offset + limit,
                 "no_good_answer": result.no_good_answer, "timings_ms": result.timings_ms,
                 "notes": list(getattr(result, "notes", []) or [])})
    return data, [(papers[h.rowid], h) for h in hits if h.rowid in papers]


def run_search(request: Request, q: str, mode: SearchMode, category: list[str] | None,
               date_from: date | None, date_to: date | None, page: int, limit: int,
               diverse: bool = False, theta: float = DEFAULT_THETA,
               threshold: float | None = None, sort: str = "relevance",
               author: str | None = None) -> dict[str, Any]:
    """Search and build the result data shared by the page, its JSON twin and the API."""
    data, ranked = execute_search(request, q, mode, category, date_from, date_to, page, limit,
                                  diverse, theta, threshold, sort, author)
    cited = cited_by_counts(state(request).engine, [p.rowid for p, _ in ranked if p.rowid is not None])
    data["results"] = [
        {**paper_json(paper), "score": hit.score, "components": hit.components,
         "matched_terms": list(hit.matched_terms), "cited_by_count": cited.get(paper.rowid or 0)}
        for paper, hit in ranked
    ]
    return data


def _paper_for_id(request: Request, q: str) -> tuple[str, str | None] | None:
    """(arXiv id, its page here or None) when the query is an arXiv id or URL, else None."""
    try:
        arxiv_id = parse_arxiv_id(q)[0]
    except ValueError:
        return None
    stored = get_paper(state(request).engine, arxiv_id)
    return arxiv_id, (f"/papers/{stored.paper_id}" if stored is not None else None)


@router.get("/search", tags=["pages"], summary="Search page")
def search_page(request: Request, q: Q = "", mode: Mode = "hybrid", category: Categories = None,
                date_from: DateFrom = None, date_to: DateTo = None, page: Page = 1, limit: Limit = 20,
                diverse: Diverse = False, theta: Theta = DEFAULT_THETA, threshold: Threshold = None,
                sort: Sort = "relevance", author: Author = None, format: Format = None) -> Response:
    """One box; mode, category and date filters; paginated; shows which terms matched. An arXiv id or
    URL opens that paper (or offers arXiv and "submit it" when it is not here)."""
    lookup = _paper_for_id(request, q) if q.strip() and len(q) < 300 else None
    if lookup is not None and lookup[1] is not None and not wants_json(request):
        return RedirectResponse(lookup[1], status_code=303)
    data = run_search(request, q, mode, category, date_from, date_to, page, limit, diverse, theta, threshold,
                      sort, author)
    if lookup is not None:
        data["arxiv_id"] = lookup[0]
    return page_or_json(request, "search.html", data, {"title": f"{q[:80]} · search" if q else "Search",
                                                       "q": q[:MAX_QUERY], "page": page,
                                                       "mode_labels": MODE_LABELS})


@router.get("/api/search", tags=["api"], summary="Search (JSON)")
def search_api(request: Request, q: Annotated[str, Query(min_length=1, max_length=500)],
               mode: Mode = "hybrid", category: Categories = None, date_from: DateFrom = None,
               date_to: DateTo = None, page: Page = 1, limit: Limit = 20, diverse: Diverse = False,
               theta: Theta = DEFAULT_THETA, threshold: Threshold = None,
               sort: Sort = "relevance", author: Author = None) -> Response:
    """Ranked papers with scores per mode and the query terms each one matched. `total` is a lower bound
    when `has_more` is true (the engine stops at its depth)."""
    return JsonResponse(run_search(request, q, mode, category, date_from, date_to, page, limit,
                                   diverse, theta, threshold, sort, author))
