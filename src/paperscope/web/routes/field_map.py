"""The map of the field: `/map` (page + JSON twin), the points it draws, one point's paper, and which
points a search or the reader's library covers (highlighted on the map)."""

from __future__ import annotations

import gzip
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.responses import Response

from paperscope.feed.field_map import FieldMap, MapCache
from paperscope.search.types import SearchFilters
from paperscope.store import get_papers_by_rowid
from paperscope.store import library as library_store
from paperscope.web import security
from paperscope.web.app_state import state
from paperscope.web.params import Format
from paperscope.web.rendering import JsonResponse, page_or_json
from paperscope.web.routes.search import require_words

router = APIRouter(tags=["map"])
HIGHLIGHT_DEPTH = 200
# Only results likely to be relevant light up (P(relevant) >= 0.02, cosine ~0.46 — the search page's
# "Hide off-topic" level): the top 200 of any query would otherwise cover a small library entirely.
HIGHLIGHT_THRESHOLD = 0.02


def _cache(request: Request) -> MapCache:
    return state(request).field_map


def _map_or_404(request: Request) -> FieldMap:
    fmap = _cache(request).current()
    if fmap is None:
        raise HTTPException(status_code=404, detail="no map yet: run `paperscope map` on the server")
    return fmap


@router.get("/map", summary="Map of the field")
def map_page(request: Request, format: Format = None) -> Response:
    """Every embedded paper in 2-D, in labelled regions; pan, zoom, filter, highlight a search."""
    fmap = _cache(request).current()
    data: dict[str, Any] = {"available": fmap is not None, **(fmap.meta() if fmap else {})}
    if fmap is None:
        data["message"] = "No map yet: the server's administrator runs `paperscope map` after indexing."
    data["signed_in"] = security.viewer(request) is not None
    return page_or_json(request, "map.html", data, {"title": "Map of the field"})


@router.get("/api/map/points.bin", summary="The map's points (binary)")
def map_points(request: Request, v: Annotated[str | None, Query(max_length=40)] = None) -> Response:
    """Five little-endian uint16 columns of `count` values each: x, y (0..65535), region, category index,
    listing day since `day0` (65535 = unknown). Versioned by `v` (the map's `built_at`)."""
    fmap = _map_or_404(request)
    body = _cache(request).payload()
    headers = {"ETag": f'"{fmap.built_at}"', "Vary": "Accept-Encoding",
               "Cache-Control": "public, max-age=31536000, immutable" if v == fmap.built_at else "no-cache"}
    if request.headers.get("if-none-match") == headers["ETag"]:
        return Response(status_code=304, headers=headers)
    if "gzip" in request.headers.get("accept-encoding", ""):
        body = _gzipped(request, fmap, body)
        headers["Content-Encoding"] = "gzip"
    return Response(body, media_type="application/octet-stream", headers=headers)


def _gzipped(request: Request, fmap: FieldMap, body: bytes) -> bytes:
    st = state(request)
    cached = st.field_map_gzip
    if cached is None or cached[0] != fmap.built_at:
        cached = (fmap.built_at, gzip.compress(body, compresslevel=6))
        st.field_map_gzip = cached
    return cached[1]


@router.get("/api/map/point/{number}", summary="The paper at one point of the map")
def map_point(request: Request, number: Annotated[int, Path(ge=0)]) -> Response:
    fmap = _map_or_404(request)
    if number >= fmap.count:
        raise HTTPException(status_code=404, detail=f"the map has {fmap.count} points")
    found = get_papers_by_rowid(state(request).engine, [int(fmap.rowids[number])])
    if not found:
        raise HTTPException(status_code=404, detail="that paper is no longer in the library")
    paper = found[0]
    return JsonResponse({"point": number, "id": paper.paper_id, "title": paper.title,
                         "authors": list(paper.authors[:3]), "primary_category": paper.primary_category,
                         "listed": paper.listed.isoformat() if paper.listed else None,
                         "region": int(fmap.region[number]), "url": f"/papers/{paper.paper_id}"})


@router.get("/api/map/highlight", summary="Points of a search's results and / or your library")
def map_highlight(request: Request, q: Annotated[str, Query(max_length=500)] = "",
                  library: Annotated[bool, Query(description="Your saved papers (signed in).")] = False,
                  ) -> Response:
    """Point numbers to highlight: the hybrid-search results for `q` likely to be relevant (best first),
    and the reader's library."""
    fmap = _map_or_404(request)
    data: dict[str, Any] = {"query": q, "search": [], "library": []}
    if q.strip():
        require_words(q)
        engine = state(request).search_engine
        result = engine.search(q, mode="hybrid", k=HIGHLIGHT_DEPTH, filters=SearchFilters(),
                               threshold=HIGHLIGHT_THRESHOLD)
        data["search"] = fmap.position_of([h.rowid for h in result.hits])
    if library:
        user = security.require_user(request)
        saved = library_store.library_rowids(state(request).engine, user.id)
        data["library"] = fmap.position_of(sorted(saved))
    return JsonResponse(data)
