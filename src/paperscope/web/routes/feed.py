"""The daily feed, trending and per-category listings (HTML pages with `?format=json` twins)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.responses import Response

from paperscope.feed.daily import SORTS, daily_listing
from paperscope.feed.trending import trending_papers
from paperscope.store.listings import category_counts
from paperscope.web.app_state import state
from paperscope.web.category_names import category_name
from paperscope.web.params import (
    CATEGORY_PATTERN,
    Category,
    DayParam,
    Format,
    Limit,
    MonthParam,
    Page,
    WeekParam,
    period_or_400,
)
from paperscope.web.rendering import page_or_json
from paperscope.web.serialize import listing_json, scored_json

router = APIRouter(tags=["pages"])

Sort = Annotated[Literal["upvotes", "trending", "newest"], Query(description="Order of the papers.")]


@router.get("/", summary="Daily feed")
def daily_feed(request: Request, date: DayParam = None, week: WeekParam = None, month: MonthParam = None,
               sort: Sort = "upvotes", category: Category = None, page: Page = 1, limit: Limit = 30,
               format: Format = None) -> Response:
    """Papers listed on a day (default: the latest day with papers), an ISO week or a month."""
    period = period_or_400(date, week, month)
    engine = state(request).engine
    listing = daily_listing(engine, period, sort=sort, category=category, limit=limit,
                            offset=(page - 1) * limit)
    data = listing_json(listing)
    shown = listing.period
    counts = category_counts(engine, shown.start, shown.end) if shown else []
    data["facets"] = [{"category": c, "papers": n} for c, n in counts]
    return page_or_json(request, "feed.html", data, {"sorts": SORTS, "page": page,
                                                     "title": _feed_title(data)})


def _feed_title(data: dict[str, Any]) -> str:
    period = data["period"]
    base = period["label"] if period else "No papers yet"
    return f"{data['category']} · {base}" if data["category"] else base


TrendingDays = Annotated[int, Query(ge=1, le=30, description="How many days of listings compete.")]


@router.get("/trending", summary="Trending papers")
def trending(request: Request, category: Category = None, days: TrendingDays = 7, page: Page = 1,
             limit: Limit = 30, format: Format = None) -> Response:
    """Papers of the last `days` days ordered by time-decayed upvotes (see paperscope.feed.trending)."""
    engine = state(request).engine
    items, total, as_of = trending_papers(engine, category=category, limit=limit,
                                          offset=(page - 1) * limit, window_days=days)
    data = {"category": category, "days": days, "as_of": as_of.isoformat(), "total": total,
            "offset": (page - 1) * limit,
            "facets": [{"category": c, "papers": n} for c, n in category_counts(engine)],
            "limit": limit, "formula": "hf_upvotes / (age_hours + 2) ^ 1.5 + Σ local votes and submissions "
                                       "2^-1.5 · 2^(-hours since / 24)",
            "papers": [scored_json(i) for i in items]}
    return page_or_json(request, "trending.html", data, {"page": page, "title": "Trending"})


@router.get("/categories", summary="Categories")
def categories(request: Request, format: Format = None) -> Response:
    """Every category with its number of papers (primary or cross-listed)."""
    counts = category_counts(state(request).engine)
    data = {"categories": [{"category": c, "name": category_name(c), "papers": n, "url": f"/categories/{c}"}
                           for c, n in counts]}
    return page_or_json(request, "categories.html", data, {"title": "Categories"})


@router.get("/categories/{category}", summary="Papers in one category")
def category_listing(request: Request,
                     category: Annotated[str, Path(pattern=CATEGORY_PATTERN, max_length=64)],
                     date: DayParam = None, week: WeekParam = None, month: MonthParam = None,
                     sort: Sort = "upvotes", page: Page = 1, limit: Limit = 30,
                     format: Format = None) -> Response:
    """The category's papers for a day (default: its latest day), week or month."""
    period = period_or_400(date, week, month)
    listing = daily_listing(state(request).engine, period, sort=sort, category=category,
                            limit=limit, offset=(page - 1) * limit)
    if listing.period is None:
        raise HTTPException(status_code=404, detail=f"no papers in category {category}")
    data = listing_json(listing)
    return page_or_json(request, "feed.html", data, {"sorts": SORTS, "page": page,
                                                     "title": _feed_title(data)})

