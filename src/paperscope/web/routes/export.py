"""Library export for reference managers: `GET /api/v1/library/export?format=bibtex|ris|csljson[&tag=]`.

A download (Content-Disposition: attachment) of the signed-in reader's library (bearer token or session),
newest first, optionally one tag; the formats live in `web/cite_formats.py`.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal
from urllib.parse import quote

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from paperscope.store import get_papers_by_rowid
from paperscope.store import library as library_store
from paperscope.web import security
from paperscope.web.app_state import state
from paperscope.web.cite_formats import bibtex, csl_json, ris

router = APIRouter(tags=["library-api"])

ExportFormat = Literal["bibtex", "ris", "csljson"]
MEDIA = {"bibtex": ("application/x-bibtex; charset=utf-8", "bib"),
         "ris": ("application/x-research-info-systems; charset=utf-8", "ris"),
         "csljson": ("application/vnd.citationstyles.csl+json", "json")}


@router.get("/api/v1/library/export", summary="Export your library (BibTeX, RIS, CSL JSON)",
            responses={200: {"description": "The library in the asked format, as a download",
                             "content": {media.split(";")[0]: {"schema": {"type": "array", "items": {}}
                                                               if ext == "json" else {"type": "string"}}
                                         for media, ext in MEDIA.values()}}})
def export_library(request: Request,
                   format: Annotated[ExportFormat, Query(description="bibtex, ris or csljson.")] = "bibtex",
                   tag: Annotated[str | None, Query(max_length=40, description="Only papers with this tag.")]
                   = None) -> Response:
    """Every saved paper (or those tagged `tag`) in a reference manager's format."""
    user = security.require_user(request)
    engine = state(request).engine
    items = library_store.list_library(engine, user.id, tag=tag)
    found = {p.rowid: p for p in get_papers_by_rowid(engine, [i.rowid for i in items])}
    papers = [found[i.rowid] for i in items if i.rowid in found]
    if format == "bibtex":
        body = bibtex(papers).encode()
    elif format == "ris":
        body = ris(papers).encode()
    else:
        body = orjson.dumps(csl_json(papers), option=orjson.OPT_INDENT_2)
    media, ext = MEDIA[format]
    suffix = "".join(f"-{t}" for t in library_store.clean_tags([tag] if tag else []))
    name = f"paperscope-library{suffix}.{ext}"
    # Headers are latin-1: an ASCII name for every client, the real one (a tag in any script) per RFC 6266.
    ascii_name = re.sub(r"[^A-Za-z0-9._-]+", "_", name)
    disposition = f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"
    return Response(body, media_type=media, headers={
        "Content-Disposition": disposition, "X-Papers": str(len(papers))})
