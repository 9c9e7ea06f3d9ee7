"""Author pages: `/authors/{name}` (+ `?format=json`) and `/feeds/author/{name}.atom`, with names matched
the forgiving way (`search/authors.py`): "Spärck Jones", "Sparck Jones" and "K. Sparck Jones" find the
same papers. Also the directory the search routes use for `author=`."""

from __future__ import annotations

import unicodedata
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Request
from fastapi.responses import Response

from paperscope.model import Paper
from paperscope.search.authors import MAX_NAME
from paperscope.store import get_papers_by_rowid
from paperscope.store.papers import hidden_among
from paperscope.web.app_state import state
from paperscope.web.params import Format, Limit, Page
from paperscope.web.rendering import page_or_json
from paperscope.web.routes.atom import atom_response
from paperscope.web.serialize import paper_json

router = APIRouter(tags=["pages"])
Name = Annotated[str, Path(min_length=1, max_length=MAX_NAME,
                           description="An author's name; accents and initials are optional.")]


def plain_name(name: str) -> str:
    """The name stripped, or 400 when it holds control characters (no one's name does, and Atom/XML
    cannot carry them)."""
    if any(unicodedata.category(c) in ("Cc", "Cs", "Co", "Cn") for c in name):
        raise HTTPException(status_code=400,
                            detail="an author's name is plain text, without control characters")
    return name.strip()


def author_papers(request: Request, name: str) -> tuple[list[str], list[Paper]]:
    """(the stored spellings that match, the visible papers by them, newest first)."""
    name = plain_name(name)
    directory = state(request).author_directory
    spellings = directory.spellings(name)
    rowids = sorted({r for ids in spellings.values() for r in ids})
    engine = state(request).engine
    hidden = hidden_among(engine, rowids)
    found = get_papers_by_rowid(engine, [r for r in rowids if r not in hidden])
    found.sort(key=lambda p: (p.listed or p.published or date.min, p.paper_id), reverse=True)
    return sorted(spellings, key=lambda s: (-len(spellings[s]), s)), found


@router.get("/authors/{name}", summary="An author's papers")
def author_page(request: Request, name: Name, page: Page = 1, limit: Limit = 50,
                format: Format = None) -> Response:
    """Every paper by this person, newest first, under any spelling of the name."""
    spellings, papers = author_papers(request, name.strip())
    offset = (page - 1) * limit
    data: dict[str, Any] = {
        "name": name.strip(), "spellings": spellings, "total": len(papers), "offset": offset, "limit": limit,
        "has_more": offset + limit < len(papers),
        "papers": [paper_json(p, with_abstract=False) for p in papers[offset:offset + limit]],
        "atom": f"/feeds/author/{name.strip()}.atom",
    }
    return page_or_json(request, "author.html", data, {"title": name.strip(), "page": page})


@router.get("/feeds/author/{name}.atom", summary="An author's papers (Atom)", tags=["feeds"])
def author_atom(request: Request, name: Name) -> Response:
    _, papers = author_papers(request, name.strip())
    path = f"/feeds/author/{name.strip()}.atom"
    return atom_response(request, path, f"paperscope · {name.strip()}", f"Papers by {name.strip()}",
                         [(p, "") for p in papers[:50]])
