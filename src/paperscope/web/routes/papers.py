"""The paper page (`/papers/{id}`) and its JSON twin."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Request
from fastapi.responses import Response

from paperscope.model import Paper, parse_arxiv_id
from paperscope.store import get_paper, get_papers_by_rowid
from paperscope.store import votes as vote_store
from paperscope.store.citations import paper_citations
from paperscope.store.listings import paper_page as paper_page_row
from paperscope.web import security
from paperscope.web.app_state import state
from paperscope.web.cite_formats import bibtex_entry, highwire_meta
from paperscope.web.collections_view import paper_collections
from paperscope.web.community_view import paper_extras
from paperscope.web.params import Format
from paperscope.web.rendering import page_or_json, render, wants_json
from paperscope.web.serialize import paper_json

router = APIRouter(tags=["pages"])



def paper_key(paper_id: str) -> str:
    """The stored key for an id as users write it (arXiv id with or without version, abs/pdf URL,
    doi:...); 404 when it cannot be one."""
    key = paper_id.strip()
    try:
        return parse_arxiv_id(key)[0]
    except ValueError:
        if not key.startswith(("doi:", "t:")):
            raise HTTPException(status_code=404, detail=f"not a paper id: {paper_id!r}") from None
    return key


def visible_paper(request: Request, paper: Paper | None, key: str) -> Paper:
    """`paper`, or 404 when there is none or moderators hid it and the viewer is not one of them
    (a hidden paper is gone for everyone else: pages, APIs, similar papers, votes, comments, saves)."""
    if paper is None:
        raise HTTPException(status_code=404, detail=f"no paper {key!r} in this library")
    if paper.rowid is not None and vote_store.is_hidden(state(request).engine, paper.rowid):
        user = security.viewer(request)
        if user is None or not user.is_moderator:
            raise HTTPException(status_code=404, detail="this paper has been hidden by the moderators")
    return paper


def find_paper(request: Request, paper_id: str) -> Paper:
    """The paper for an id as users write it, or 404 (also when it is hidden from this viewer)."""
    key = paper_key(paper_id)
    return visible_paper(request, get_paper(state(request).engine, key), key)


# Declared before the page route: `{paper_id:path}` would otherwise swallow the `/similar` suffix.
@router.get("/papers/{paper_id:path}/similar", include_in_schema=False)
def similar_fragment(request: Request, paper_id: Annotated[str, Path(max_length=200)]) -> Response:
    """The "similar papers" block of a paper page, fetched by htmx after the page has painted."""
    paper = find_paper(request, paper_id)
    provider = state(request).similar_papers
    similar = ([paper_json(p, with_abstract=False) for p in provider(state(request).engine, paper, 6)]
               if provider is not None else [])
    return render(request, "_similar.html", {"similar": similar, "seed": paper.paper_id})


@router.get("/papers/{paper_id:path}", summary="Paper page")
def paper_page(request: Request, paper_id: Annotated[str, Path(max_length=200)],
               format: Format = None) -> Response:
    """Title, authors, abstract, links to arXiv (abstract and PDF), code and upvotes.

    Similar papers (when that feature is installed) load separately — `similar_url` — so finding them
    never delays the page itself.
    """
    return paper_page_response(request, paper_id)


def paper_page_response(request: Request, paper_id: str, form: dict[str, Any] | None = None,
                        status_code: int = 200) -> Response:
    """The paper page; `form` (a form's error and the text the person wrote) re-renders it after a
    refused post, so nothing they typed is lost."""
    key = paper_key(paper_id)
    page = paper_page_row(state(request).engine, key)  # one query for the row and the community flags
    if page is None:
        if not wants_json(request) and not key.startswith(("doi:", "t:")):
            # An arXiv paper this library lacks: offer it on arXiv, and to submit it.
            return render(request, "error.html", {"status": 404, "arxiv_id": key,
                                                  "message": f"{key} is not in this library."},
                          status_code=404)
        raise HTTPException(status_code=404, detail=f"no paper {key!r} in this library")
    paper = page.paper
    has_similar = state(request).similar_papers is not None
    page_url = f"{str(state(request).settings.base_url).rstrip('/')}/papers/{paper.paper_id}"
    data = {**paper_json(paper),
            "cite": {"bibtex": bibtex_entry(paper)},
            # Highwire Press tags: what the Zotero Connector and Google Scholar read from the page.
            "citation_meta": [list(tag) for tag in highwire_meta(paper, page_url)],
            "similar_url": f"/api/papers/{paper.paper_id}/similar" if has_similar else None,
            "similar_fragment": f"/papers/{paper.paper_id}/similar" if has_similar else None,
            **paper_extras(request, paper, page), **paper_collections(request, paper.paper_id)}
    data["citations"] = _citations(request, paper)
    if form is not None:
        return render(request, "paper.html", {"title": paper.title, "data": data, "form": form},
                      status_code=status_code)
    return page_or_json(request, "paper.html", data, {"title": paper.title})


CITATION_LIST = 20


def _citations(request: Request, paper: Paper) -> dict[str, Any]:
    """OpenAlex's cited-by count and the papers of this library it cites (prior) or that cite it
    (derivative), most cited first; empty until `paperscope ingest citations` has run."""
    engine = state(request).engine
    found = paper_citations(engine, paper.rowid or 0)
    wanted = found.prior[:CITATION_LIST] + found.derivative[:CITATION_LIST]
    by_rowid = {p.rowid: p for p in get_papers_by_rowid(engine, wanted)} if wanted else {}

    def cards(rowids: list[int]) -> list[dict[str, Any]]:
        return [paper_json(by_rowid[r], with_abstract=False) for r in rowids[:CITATION_LIST] if r in by_rowid]
    return {"openalex_id": found.openalex_id, "cited_by_count": found.cited_by_count,
            "references_count": found.references_count, "prior_total": len(found.prior),
            "derivative_total": len(found.derivative), "prior": cards(found.prior),
            "derivative": cards(found.derivative)}
