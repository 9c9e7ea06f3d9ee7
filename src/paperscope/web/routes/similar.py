"""Similar papers: `/api/papers/{id}/similar`, `/api/similar?ids=a,b,c`, the `/similar` page, and the
"Similar papers" section of the paper page."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from fastapi import APIRouter, FastAPI, HTTPException, Path, Query, Request
from fastapi.responses import Response

from paperscope.feed.similar import SimilarPapers, SimilarResult
from paperscope.model import Paper
from paperscope.search.dpp import DEFAULT_THETA
from paperscope.store import get_papers_by_rowid
from paperscope.web.params import Format, Limit, Page
from paperscope.web.rendering import JsonResponse, page_or_json, state
from paperscope.web.routes.papers import find_paper
from paperscope.web.serialize import paper_json

router = APIRouter(tags=["similar"])

Diverse = Annotated[bool, Query(description="Re-rank for diversity (greedy DPP MAP).")]
Theta = Annotated[float, Query(ge=0.0, le=1.0, description="Quality/diversity trade-off θ: 1 = relevance "
                                                          "order, lower = more diverse.")]
Method = Annotated[Literal["dpp", "mmr"], Query(description="Diversity re-ranker: dpp or the mmr baseline.")]
Ids = Annotated[str, Query(max_length=2000, pattern=r"[^,\s]",
                           description="Comma-separated paper ids (up to 20).")]
MAX_SEEDS = 20


def similar_service(request: Request) -> SimilarPapers | None:
    """The app's SimilarPapers (built on the shared SearchEngine), or None without the search stage."""
    return getattr(request.app.state, "similar", None)


def _run(request: Request, seeds: list[Paper], page: int, limit: int, diverse: bool, theta: float,
         method: str) -> tuple[dict[str, Any], list[tuple[Paper, dict[str, Any]]]]:
    service = similar_service(request)
    if service is None:
        raise HTTPException(status_code=503, detail="similar papers need the search stage")
    result: SimilarResult = service.similar(seeds, k=limit, offset=(page - 1) * limit, diverse=diverse,
                                            theta=theta, method=method)
    found = {p.rowid: p for p in get_papers_by_rowid(state(request).engine, [h.rowid for h in result.hits])}
    items = [(found[h.rowid], {"score": h.score, "components": h.components}) for h in result.hits
             if h.rowid in found]
    data = {"seeds": result.seeds, "total": result.total, "page": page, "limit": limit,
            "cached": result.cached, "diverse": result.diverse, "theta": theta if diverse else None,
            "method": method if diverse else None, "notes": result.notes,
            "papers": [{**paper_json(p, with_abstract=False), **extra} for p, extra in items]}
    return data, items


@router.get("/api/papers/{paper_id:path}/similar", summary="Papers similar to one paper")
def similar_to_paper(request: Request, paper_id: Annotated[str, Path(max_length=200)], page: Page = 1,
                     limit: Limit = 10, diverse: Diverse = False, theta: Theta = DEFAULT_THETA,
                     method: Method = "dpp") -> Response:
    """Late-interaction neighbours (the paper's own token vectors as the query) fused with a lexical
    more-like-this; `diverse=true` re-ranks them with a DPP."""
    data, _ = _run(request, [find_paper(request, paper_id)], page, limit, diverse, theta, method)
    return JsonResponse(data)


def _seeds(request: Request, ids: str) -> list[Paper]:
    wanted = [i for i in dict.fromkeys(x.strip() for x in re.split(r"[,\s]+", ids)) if i]
    if not wanted:
        raise HTTPException(status_code=400, detail="give at least one paper id in ids=")
    if len(wanted) > MAX_SEEDS:
        raise HTTPException(status_code=400, detail=f"at most {MAX_SEEDS} papers in ids=")
    return [find_paper(request, i) for i in wanted]


@router.get("/api/similar", summary="Papers similar to a set of papers")
def similar_to_set_api(request: Request, ids: Ids, page: Page = 1, limit: Limit = 10,
                       diverse: Diverse = False, theta: Theta = DEFAULT_THETA,
                       method: Method = "dpp") -> Response:
    """Each paper's lists fused together, so every paper in the set counts the same."""
    data, _ = _run(request, _seeds(request, ids), page, limit, diverse, theta, method)
    return JsonResponse(data)


@router.get("/similar", summary="Papers similar to a set of papers (page)")
def similar_page(request: Request, ids: Ids, page: Page = 1, limit: Limit = 20, diverse: Diverse = False,
                 theta: Theta = DEFAULT_THETA, format: Format = None) -> Response:
    """The page twin of `/api/similar`."""
    seeds = _seeds(request, ids)
    data, _ = _run(request, seeds, page, limit, diverse, theta, "dpp")
    data["seed_papers"] = [paper_json(p, with_abstract=False) for p in seeds]
    return page_or_json(request, "similar.html", data, {"title": "Similar papers"})


def install_similar(app: FastAPI) -> None:
    """Add the routes (ahead of the `/api/papers/{id}` catch-all) and fill the paper page's slot."""
    search_engine = getattr(app.state, "search_engine", None)
    app.state.similar = SimilarPapers(search_engine.retriever) if search_engine is not None else None
    before = len(app.router.routes)
    app.include_router(router)
    added = app.router.routes[before:]
    del app.router.routes[before:]
    app.router.routes[:0] = added

    def provider(_engine: Any, paper: Paper, k: int) -> list[Paper]:
        service: SimilarPapers | None = app.state.similar
        return service.similar_papers([paper], k=k) if service is not None else []

    if app.state.similar is not None:
        app.state.similar_papers = provider
    from paperscope.web.routes.library import install_library

    install_library(app)
