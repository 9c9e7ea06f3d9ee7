"""The paper page (`/papers/{id}`) and its JSON twin."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Request
from fastapi.responses import Response

from paperscope.model import Paper, parse_arxiv_id
from paperscope.store import get_paper
from paperscope.web.community_view import paper_extras
from paperscope.web.params import Format
from paperscope.web.rendering import page_or_json, state
from paperscope.web.serialize import paper_json

router = APIRouter(tags=["pages"])

# A later feature fills `app.state.similar_papers` with (engine, paper, k) -> papers; until then the slot
# is hidden.
SimilarPapers = Callable[[Any, Paper, int], list[Paper]]


def find_paper(request: Request, paper_id: str) -> Paper:
    """The paper for an id as users write it (arXiv id with or without version, abs/pdf URL, doi:...)."""
    engine = state(request).engine
    key = paper_id.strip()
    try:
        key = parse_arxiv_id(key)[0]
    except ValueError:
        if not key.startswith(("doi:", "t:")):
            raise HTTPException(status_code=404, detail=f"not a paper id: {paper_id!r}") from None
    paper = get_paper(engine, key)
    if paper is None:
        raise HTTPException(status_code=404, detail=f"no paper {key!r} in this library")
    return paper


@router.get("/papers/{paper_id:path}", summary="Paper page")
def paper_page(request: Request, paper_id: Annotated[str, Path(max_length=200)],
               format: Format = None) -> Response:
    """Title, authors, abstract, links to arXiv (abstract and PDF), code and upvotes."""
    paper = find_paper(request, paper_id)
    similar: list[dict[str, Any]] = []
    provider: SimilarPapers | None = getattr(request.app.state, "similar_papers", None)
    if provider is not None:
        similar = [paper_json(p, with_abstract=False) for p in provider(state(request).engine, paper, 6)]
    data = {**paper_json(paper), "similar": similar if provider is not None else None,
            **paper_extras(request, paper)}
    return page_or_json(request, "paper.html", data, {"title": paper.title})
