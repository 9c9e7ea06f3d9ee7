"""The Hugging Face–compatible API: `huggingface_hub.HfApi(endpoint=...)` works against paperscope.

`/api/daily_papers`, `/api/papers/search` and `/api/papers/{id}` return the field names and nesting
that huggingface_hub's `list_daily_papers`, `list_papers` and `paper_info` parse.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.responses import Response

from paperscope.feed.daily import daily_listing
from paperscope.search.types import SearchFilters
from paperscope.store import get_papers_by_rowid
from paperscope.web.community_view import hf_items
from paperscope.web.params import DayParam, MonthParam, WeekParam, period_or_400
from paperscope.web.rendering import JsonResponse, state
from paperscope.web.routes.papers import find_paper
from paperscope.web.routes.search import require_words, searcher
from paperscope.web.serialize import hf_paper

router = APIRouter(tags=["huggingface-compatible"])

HfSort = Annotated[Literal["publishedAt", "trending", "upvotes"] | None,
                   Query(description="publishedAt (newest first), trending, or upvotes.")]


@router.get("/api/daily_papers", summary="Daily papers (Hugging Face API)")
def daily_papers(request: Request, date: DayParam = None, week: WeekParam = None, month: MonthParam = None,
                 submitter: Annotated[str | None, Query(max_length=100)] = None, sort: HfSort = None,
                 p: Annotated[int, Query(ge=0, le=1000, description="Page, from 0.")] = 0,
                 limit: Annotated[int, Query(ge=1, le=100)] = 50) -> Response:
    """Papers of a day (default: the latest with papers), week or month, like huggingface.co."""
    period = period_or_400(date, week, month)
    order = {"publishedAt": "newest", "trending": "trending", "upvotes": "upvotes", None: "newest"}[sort]
    listing = daily_listing(state(request).engine, period, sort=order,  # type: ignore[arg-type]
                            limit=limit, offset=p * limit)
    items = [item.paper for item in listing.items]
    if submitter:
        items = [x for x in items if x.hf and x.hf.submitted_by == submitter]
    return JsonResponse(hf_items(state(request).engine, items))


@router.get("/api/papers/search", summary="Search papers (Hugging Face API)")
def papers_search(request: Request, q: Annotated[str, Query(max_length=500)] = "",
                  limit: Annotated[int, Query(ge=1, le=120)] = 50) -> Response:
    """Papers matching a query (BM25 words), best first."""
    if not q.strip():
        return JsonResponse([])
    require_words(q)
    engine = searcher(request)
    if engine is None:
        raise HTTPException(status_code=503, detail="search is not available on this server")
    st = state(request)
    result = engine.search(q, mode="bm25", k=limit, offset=0, filters=SearchFilters())
    papers = get_papers_by_rowid(st.engine, [h.rowid for h in result.hits])
    return JsonResponse(hf_items(st.engine, papers))


@router.get("/api/papers/{arxiv_id:path}", summary="One paper (Hugging Face API)")
def paper_info(request: Request, arxiv_id: Annotated[str, Path(max_length=200)]) -> Response:
    """The paper with this arXiv id."""
    return JsonResponse(hf_paper(find_paper(request, arxiv_id)))
