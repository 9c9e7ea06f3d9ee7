"""Placeholder home page while the feed lands."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from paperscope.store import count_papers, latest_listed
from paperscope.web.rendering import page_or_json, state

router = APIRouter()


@router.get("/", include_in_schema=False)
def home(request: Request) -> Response:
    """The front page."""
    engine = state(request).engine
    latest = latest_listed(engine)
    data = {"papers": count_papers(engine), "latest": latest.isoformat() if latest else None}
    return page_or_json(request, "home.html", data, {"title": "paperscope"})
