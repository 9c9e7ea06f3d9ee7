"""The Hugging Face–compatible API: `huggingface_hub.HfApi(endpoint=...)` works against paperscope.

`/api/daily_papers`, `/api/papers/search`, `/api/papers/{id}`, `/papers/{id}.md` and
`/api/arxiv/{id}/repos` return the field names and nesting that huggingface_hub's `list_daily_papers`,
`list_papers`, `paper_info` and `read_paper` parse (and huggingface.co's repos endpoint answers).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.responses import Response

from paperscope.feed.daily import daily_listing
from paperscope.search.types import SearchFilters
from paperscope.store import comments as comment_store
from paperscope.store import get_papers_by_rowid
from paperscope.store.listings import paper_page as paper_page_row
from paperscope.web.app_state import state
from paperscope.web.community_view import hf_items
from paperscope.web.paper_markdown import paper_markdown
from paperscope.web.params import DayParam, MonthParam, WeekParam, period_or_400
from paperscope.web.rendering import JsonResponse
from paperscope.web.routes.papers import find_paper, paper_key
from paperscope.web.routes.search import require_words
from paperscope.web.serialize import hf_paper

router = APIRouter(tags=["huggingface-compatible"])

HfSort = Annotated[Literal["publishedAt", "trending", "upvotes"] | None,
                   Query(description="publishedAt (newest first), trending, or upvotes.")]
PaperId = Annotated[str, Path(max_length=200)]


@router.get("/api/daily_papers", summary="Daily papers (Hugging Face API)")
def daily_papers(request: Request, date: DayParam = None, week: WeekParam = None, month: MonthParam = None,
                 submitter: Annotated[str | None, Query(max_length=100)] = None, sort: HfSort = None,
                 p: Annotated[int, Query(ge=0, le=1000, description="Page, from 0.")] = 0,
                 limit: Annotated[int, Query(ge=1, le=100)] = 50) -> Response:
    """Papers of a day (default: the latest with papers), week or month, like huggingface.co.
    `submitter` keeps one user's submissions, before paging (so `limit=2` gives two of them)."""
    period = period_or_400(date, week, month)
    order = {"publishedAt": "newest", "trending": "trending", "upvotes": "upvotes", None: "newest"}[sort]
    listing = daily_listing(state(request).engine, period, sort=order,  # type: ignore[arg-type]
                            limit=limit, offset=p * limit, submitter=submitter or None)
    return JsonResponse(hf_items(state(request).engine, [item.paper for item in listing.items]))


@router.get("/api/papers/search", summary="Search papers (Hugging Face API)")
def papers_search(request: Request, q: Annotated[str, Query(max_length=500)] = "",
                  limit: Annotated[int, Query(ge=1, le=120)] = 50) -> Response:
    """Papers matching a query, best first: the product's hybrid search (BM25 + dense + late
    interaction), BM25 alone while no vector index exists."""
    if not q.strip():
        return JsonResponse([])
    require_words(q)
    st = state(request)
    engine = st.search_engine
    result = engine.search(q, mode="hybrid", k=limit, offset=0, filters=SearchFilters())
    papers = get_papers_by_rowid(st.engine, [h.rowid for h in result.hits])
    return JsonResponse(hf_items(st.engine, papers))


@router.get("/api/arxiv/{arxiv_id:path}/repos", summary="Repositories linked to a paper (Hugging Face API)")
def paper_repos(request: Request, arxiv_id: PaperId) -> Response:
    """huggingface.co's `models` / `datasets` / `spaces` lists (paperscope knows none of those: empty)
    plus the code repository and project page Hugging Face reported for the paper, when known."""
    paper = find_paper(request, arxiv_id)
    hf = paper.hf
    return JsonResponse({"models": [], "datasets": [], "spaces": [],
                         "githubRepo": hf.github_repo if hf else None,
                         "githubStars": hf.github_stars if hf else None,
                         "projectPage": hf.project_page if hf else None})


@router.get("/papers/{arxiv_id:path}.md", summary="A paper as Markdown (Hugging Face `read_paper`)")
def paper_md(request: Request, arxiv_id: PaperId) -> Response:
    """Title, authors, links, abstract, AI summary and discussion as one Markdown document."""
    key = paper_key(arxiv_id)
    page = paper_page_row(state(request).engine, key)
    if page is None or page.hidden:
        raise HTTPException(status_code=404, detail=f"no paper {key!r} in this library")
    paper = page.paper
    discussion = (comment_store.paper_comments(state(request).engine, paper.rowid or 0)
                  if page.has_comments else [])
    link = f"{str(state(request).settings.base_url).rstrip('/')}/papers/{paper.paper_id}"
    return Response(paper_markdown(paper, link, discussion), media_type="text/markdown; charset=utf-8")


@router.get("/api/papers/{arxiv_id:path}", summary="One paper (Hugging Face API)")
def paper_info(request: Request, arxiv_id: PaperId) -> Response:
    """The paper with this arXiv id; `numComments` counts the local discussion, as the daily list does."""
    paper = find_paper(request, arxiv_id)
    counts = comment_store.comment_counts(state(request).engine, [paper.rowid] if paper.rowid else [])
    return JsonResponse({**hf_paper(paper), "numComments": counts.get(paper.rowid or 0, 0)})
