"""The daily feed: papers of one day, week or month, sorted, filtered by category, with neighbours."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import sqlalchemy as sa

from paperscope.feed.periods import Period, period_of
from paperscope.feed.trending import TrendingPaper, as_of_for, score_paper, trending_papers
from paperscope.store.listings import latest_listing_day, listed_papers, neighbouring_listing_days

FeedSort = Literal["upvotes", "trending", "newest"]
SORTS: tuple[FeedSort, ...] = ("upvotes", "trending", "newest")


@dataclass(frozen=True)
class Listing:
    """One page of a feed: the period shown, its papers (with trending scores), and where to go next."""

    period: Period | None  # None when the store is empty
    sort: FeedSort
    category: str | None
    items: list[TrendingPaper]
    total: int
    offset: int
    limit: int
    previous: Period | None  # the nearest earlier period that has papers
    next: Period | None
    as_of: datetime


def daily_listing(engine: sa.Engine, period: Period | None, *, sort: FeedSort = "upvotes",
                  category: str | None = None, limit: int = 30, offset: int = 0,
                  submitter: str | None = None) -> Listing:
    """Build a feed page. With no period, show the latest day that has papers (in the category).

    `submitter` keeps only the papers that user submitted (before paging, so pages stay full)."""
    latest = latest_listing_day(engine, category)
    as_of = as_of_for(latest)
    if period is None:
        period = period_of("day", latest) if latest else None
    if period is None:
        return Listing(None, sort, category, [], 0, offset, limit, None, None, as_of)
    if sort == "trending":
        items, total, _ = trending_papers(engine, category=category, limit=limit, offset=offset, as_of=as_of,
                                          period=(period.start, period.end), submitter=submitter)
    else:
        papers, total = listed_papers(engine, period.start, period.end, category=category,
                                      order="upvotes" if sort == "upvotes" else "newest",
                                      limit=limit, offset=offset, submitter=submitter)
        items = [score_paper(p, as_of) for p in papers]
    before, after = neighbouring_listing_days(engine, period.start, period.end, category)
    return Listing(
        period=period, sort=sort, category=category, items=items, total=total, offset=offset, limit=limit,
        previous=period.containing(before) if before else None,
        next=period.containing(after) if after else None,
        as_of=as_of,
    )
