"""Atom feeds (web/atom_writer.py): the daily feed, trending, one category, a saved search."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from paperscope.feed.daily import daily_listing
from paperscope.feed.trending import TrendingPaper, trending_papers
from paperscope.model import Paper
from paperscope.web.app_state import state
from paperscope.web.atom_writer import AtomEntry, AtomFeed, AtomLink, atom_bytes
from paperscope.web.params import CATEGORY_PATTERN, DayParam, period_or_400
from paperscope.web.routes.search import Mode, execute_search

router = APIRouter(prefix="/feeds", tags=["feeds"])
ATOM = "application/atom+xml; charset=utf-8"


def _atom(request: Request, feed_path: str, title: str, subtitle: str,
          entries: list[tuple[Paper, str]], page_path: str = "/") -> Response:
    """An Atom document: each entry links to its paper page (alternate) and its PDF (related); the
    summary is the abstract, with any note (upvotes, score) after it."""
    base = state(request).settings.base_url.rstrip("/")
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    items: list[AtomEntry] = []
    for paper, note in entries:
        when = datetime.combine(paper.listed or paper.published or epoch.date(), time(0, 0), tzinfo=UTC)
        links = [AtomLink(f"{base}/papers/{paper.paper_id}", "alternate", "text/html")]
        if paper.pdf_url:
            links.append(AtomLink(paper.pdf_url, "related", "application/pdf", "PDF"))
        items.append(AtomEntry(
            id=paper.abs_url or f"{base}/papers/{paper.paper_id}", title=paper.title, updated=when,
            published=when, summary=paper.abstract + ("\n\n" + note if note else ""), links=tuple(links),
            authors=tuple(paper.authors[:20]), categories=tuple(paper.categories)))
    feed = AtomFeed(id=base + feed_path, title=title, subtitle=subtitle,
                    updated=max((e.updated for e in items), default=epoch),
                    links=(AtomLink(base + feed_path, "self", "application/atom+xml"),
                           AtomLink(base + page_path, "alternate", "text/html")),
                    entries=items)
    return Response(atom_bytes(feed), media_type=ATOM)


atom_response = _atom  # for feeds built in other route modules (authors)


def _trend_note(item: TrendingPaper) -> str:
    return f"{item.paper.upvotes} upvotes · trending score {item.score:.4f}"


@router.get("/daily.atom", summary="Daily feed (Atom)")
def daily_atom(request: Request, date: DayParam = None) -> Response:
    """The papers of a listing day (default: the latest), most upvoted first."""
    listing = daily_listing(state(request).engine, period_or_400(date, None, None), limit=100)
    label = listing.period.label if listing.period else "no papers yet"
    query = "?" + urlencode({"date": date}) if date else ""
    return _atom(request, f"/feeds/daily.atom{query}", f"paperscope · {label}", "Papers of the day",
                 [(i.paper, _trend_note(i)) for i in listing.items], f"/{query}")


@router.get("/trending.atom", summary="Trending (Atom)")
def trending_atom(request: Request) -> Response:
    """The trending list, with the scores the page shows."""
    items, _, _ = trending_papers(state(request).engine, limit=50)
    return _atom(request, "/feeds/trending.atom", "paperscope · trending",
                 "Recently listed papers with the most upvotes, newer ones counting more",
                 [(i.paper, _trend_note(i)) for i in items], "/trending")


@router.get("/category/{category}.atom", summary="One category (Atom)")
def category_atom(request: Request,
                  category: Annotated[str, Path(pattern=CATEGORY_PATTERN, max_length=64)]) -> Response:
    """The latest listing day's papers in a category."""
    listing = daily_listing(state(request).engine, None, sort="newest", category=category, limit=100)
    return _atom(request, f"/feeds/category/{category}.atom", f"paperscope · {category}",
                 f"New papers in {category}", [(i.paper, "") for i in listing.items],
                 f"/categories/{category}")


# The query goes into the feed's title: XML 1.0 has no place for control characters (422, not a 500).
XML_TEXT = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]*$"


@router.get("/search.atom", summary="A search (Atom)")
def search_atom(request: Request, q: Annotated[str, Query(min_length=1, max_length=500, pattern=XML_TEXT)],
                mode: Mode = "bm25") -> Response:
    """The best matches for a query, to follow in a feed reader."""
    _, ranked = execute_search(request, q, mode, None, None, None, 1, 50)
    query = "?" + urlencode({"q": q, "mode": mode})
    return _atom(request, f"/feeds/search.atom{query}", f"paperscope · {q}", f"Search: {q}",
                 [(paper, "") for paper, _ in ranked], f"/search{query}")
