"""Atom feeds (feedgen): the daily feed, trending, one category, a saved search."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from feedgen.feed import FeedGenerator

from paperscope.feed.daily import daily_listing
from paperscope.feed.trending import TrendingPaper, trending_papers
from paperscope.model import Paper
from paperscope.web.params import CATEGORY_PATTERN, DayParam, period_or_400
from paperscope.web.rendering import state
from paperscope.web.routes.search import Mode, execute_search

router = APIRouter(prefix="/feeds", tags=["feeds"])
ATOM = "application/atom+xml; charset=utf-8"


def _atom(request: Request, feed_path: str, title: str, subtitle: str,
          entries: list[tuple[Paper, str]]) -> Response:
    base = str(request.base_url).rstrip("/")
    fg = FeedGenerator()
    fg.id(base + feed_path)
    fg.title(title)
    fg.subtitle(subtitle)
    fg.link(href=base + feed_path, rel="self")
    fg.link(href=base + "/", rel="alternate")
    fg.language("en")
    newest = datetime(1970, 1, 1, tzinfo=UTC)
    for paper, note in reversed(entries):  # feedgen prepends, so add oldest first
        when = datetime.combine(paper.listed or paper.published or newest.date(), time(0, 0), tzinfo=UTC)
        newest = max(newest, when)
        fe = fg.add_entry()
        fe.id(paper.abs_url or f"{base}/papers/{paper.paper_id}")
        fe.title(paper.title)
        fe.link(href=f"{base}/papers/{paper.paper_id}", rel="alternate")
        if paper.pdf_url:
            fe.link(href=paper.pdf_url, rel="related", type="application/pdf", title="PDF")
        for name in paper.authors[:20]:
            fe.author(name=name)
        for cat in paper.categories:
            fe.category(term=cat)
        fe.summary((note + "\n\n" if note else "") + paper.abstract)
        fe.updated(when)
        fe.published(when)
    fg.updated(newest)
    return Response(fg.atom_str(pretty=False), media_type=ATOM)


def _trend_note(item: TrendingPaper) -> str:
    return f"{item.paper.upvotes} upvotes · trending score {item.score:.4f}"


@router.get("/daily.atom", summary="Daily feed (Atom)")
def daily_atom(request: Request, date: DayParam = None) -> Response:
    """The papers of a listing day (default: the latest), most upvoted first."""
    listing = daily_listing(state(request).engine, period_or_400(date, None, None), limit=100)
    label = listing.period.label if listing.period else "no papers yet"
    return _atom(request, "/feeds/daily.atom", f"paperscope · {label}", "Papers of the day",
                 [(i.paper, _trend_note(i)) for i in listing.items])


@router.get("/trending.atom", summary="Trending (Atom)")
def trending_atom(request: Request) -> Response:
    """The trending list, with the scores the page shows."""
    items, _, _ = trending_papers(state(request).engine, limit=50)
    return _atom(request, "/feeds/trending.atom", "paperscope · trending",
                 "Time-decayed upvotes: upvotes / (age_hours + 2)^1.5",
                 [(i.paper, _trend_note(i)) for i in items])


@router.get("/category/{category}.atom", summary="One category (Atom)")
def category_atom(request: Request,
                  category: Annotated[str, Path(pattern=CATEGORY_PATTERN, max_length=64)]) -> Response:
    """The latest listing day's papers in a category."""
    listing = daily_listing(state(request).engine, None, sort="newest", category=category, limit=100)
    return _atom(request, f"/feeds/category/{category}.atom", f"paperscope · {category}",
                 f"New papers in {category}", [(i.paper, "") for i in listing.items])


# The query goes into the feed's title: XML 1.0 has no place for control characters (422, not a 500).
XML_TEXT = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]*$"


@router.get("/search.atom", summary="A search (Atom)")
def search_atom(request: Request, q: Annotated[str, Query(min_length=1, max_length=500, pattern=XML_TEXT)],
                mode: Mode = "bm25") -> Response:
    """The best matches for a query, to follow in a feed reader."""
    _, ranked = execute_search(request, q, mode, None, None, None, 1, 50)
    return _atom(request, "/feeds/search.atom", f"paperscope · {q}", f"Search: {q}",
                 [(paper, "") for paper, _ in ranked])
