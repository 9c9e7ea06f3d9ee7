"""Trending: time-decayed upvotes.

    score = upvotes / (age_hours + 2) ** 1.5

`upvotes` are the Hugging Face upvotes the store holds; `age_hours` runs from when the paper reached the
daily page (its HF submission time, else the start of its listing day, UTC) to the reference time
`as_of`. The +2 keeps brand-new papers from dividing by ~0; the 1.5 exponent halves a paper's score in
roughly the time it took to reach its age so far, so a day-old paper needs ~2.8x the upvotes of a
12-hour-old one to rank level with it (the Hacker News-style gravity curve).

`as_of` is the end of the newest listing day in the store when that is earlier than now, so a snapshot
that has stopped updating still has a meaningful trending list. Only papers listed in the last
`window_days` days before `as_of` compete; papers without upvotes score 0 and follow, newest first.
The page, the JSON API and the Atom feed all call `trending_papers`, so they show the same numbers.

Local activity (this installation's upvotes and submissions) adds a second, exponentially decaying term:

    score = hf_upvotes / (age_hours + 2) ** 1.5
          + LOCAL_WEIGHT * sum over local events e of  w_e * 2 ** (-(as_of - t_e) / HALF_LIFE_HOURS)

with w = 1 for an upvote and SUBMISSION_WEIGHT for a submission, HALF_LIFE_HOURS = 24 and
LOCAL_WEIGHT = 2 ** -1.5, so a vote cast at `as_of` is worth what one Hugging Face upvote on a paper that
has just reached the page is worth. Because the decay is exponential, the sum factors into
2 ** (-(as_of - EPOCH) / HALF_LIFE_HOURS) times a per-paper number that never changes with time. The store
keeps its log2 (`papers.community_trend`): each vote adds one term in O(1) (log-add-exp), un-votes
recompute that one paper from its remaining events, and the local ordering at any moment is simply
`ORDER BY community_trend DESC` on an index — no scan, no re-scoring of old papers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import sqlalchemy as sa

from paperscope.model import Paper
from paperscope.store.listings import (
    community_papers,
    latest_listing_day,
    listed_papers,
    upvoted_papers,
    window_counts,
)

GRAVITY = 1.5
AGE_OFFSET_HOURS = 2.0
WINDOW_DAYS = 7
HALF_LIFE_HOURS = 24.0
SUBMISSION_WEIGHT = 1.0
LOCAL_WEIGHT = AGE_OFFSET_HOURS ** -GRAVITY
# The fixed reference the stored community trend is relative to (any constant works; log2 keeps
# the numbers small: about +365 per year after the epoch with a one-day half-life).
EPOCH = datetime(2024, 1, 1, tzinfo=UTC)


def _half_lives_since_epoch(when: datetime) -> float:
    return (when - EPOCH).total_seconds() / 3600 / HALF_LIFE_HOURS


def event_log2(when: datetime, weight: float = 1.0) -> float:
    """The log2 contribution of one local event (vote or submission) at `when`."""
    return math.log2(weight) + _half_lives_since_epoch(when)


def add_event(trend: float | None, when: datetime, weight: float = 1.0) -> float:
    """The stored trend after one more event: log2(2**trend + weight * 2**((when - EPOCH)/half-life))."""
    term = event_log2(when, weight)
    if trend is None:
        return term
    high, low = max(trend, term), min(trend, term)
    return high + math.log2(1.0 + 2.0 ** (low - high))


def trend_of(events: Iterable[tuple[datetime, float]]) -> float | None:
    """The stored trend of a paper from all its events (used when one is taken back); None when none."""
    trend: float | None = None
    for when, weight in events:
        trend = add_event(trend, when, weight)
    return trend


def community_score(trend: float | None, as_of: datetime) -> float:
    """The local term of the score at `as_of` from the stored trend."""
    if trend is None:
        return 0.0
    return LOCAL_WEIGHT * 2.0 ** (trend - _half_lives_since_epoch(as_of))


@dataclass(frozen=True)
class TrendingPaper:
    """A paper with its trending score and the age it was scored at."""

    paper: Paper
    score: float
    age_hours: float


def reached_at(paper: Paper) -> datetime:
    """When a paper became visible: its HF daily submission, else the start of its listing day (UTC)."""
    if paper.hf and paper.hf.submitted_at:
        return paper.hf.submitted_at
    day = paper.listed or paper.published or date(1970, 1, 1)
    return datetime.combine(day, time(0, 0), tzinfo=UTC)


def trending_score(upvotes: int, age_hours: float) -> float:
    """The documented formula: upvotes / (age_hours + 2) ** 1.5 (age clamped at 0)."""
    return upvotes / (max(age_hours, 0.0) + AGE_OFFSET_HOURS) ** GRAVITY


def score_paper(paper: Paper, as_of: datetime) -> TrendingPaper:
    """Score one paper at `as_of`."""
    age = (as_of - reached_at(paper)).total_seconds() / 3600
    upvotes = paper.hf.upvotes if paper.hf else 0
    score = trending_score(upvotes, age) + community_score(paper.community_trend, as_of)
    return TrendingPaper(paper, score, max(age, 0.0))


def as_of_for(latest: date | None, now: datetime | None = None) -> datetime:
    """`as_of` given the newest listing day: now, or the end of that day when it is earlier."""
    now = now or datetime.now(UTC)
    if latest is None:
        return now
    return min(now, datetime.combine(latest + timedelta(days=1), time(0, 0), tzinfo=UTC))


def reference_time(engine: sa.Engine, now: datetime | None = None, category: str | None = None) -> datetime:
    """`as_of`: now, or the end of the newest listing day when the store's data is older than that."""
    return as_of_for(latest_listing_day(engine, category), now)


def rank_trending(candidates: list[Paper], as_of: datetime) -> list[TrendingPaper]:
    """Papers ordered by trending score, ties broken by newest."""
    scored = [score_paper(p, as_of) for p in candidates]
    scored.sort(key=lambda t: (-t.score, t.age_hours, t.paper.paper_id))
    return scored


def trending_papers(engine: sa.Engine, *, category: str | None = None, limit: int = 30, offset: int = 0,
                    as_of: datetime | None = None, window_days: int = WINDOW_DAYS,
                    period: tuple[date, date] | None = None,
                    submitter: str | None = None) -> tuple[list[TrendingPaper], int, datetime]:
    """A page of the trending list, how many papers compete, and the `as_of` time they were scored at.

    Candidates are the papers listed in the `window_days` days up to `as_of`, or in `period` (first and
    last listing day) when given — the daily feed's "trending" sort ranks one day, week or month.
    """
    as_of = as_of or reference_time(engine, category=category)
    if period is not None:
        first_day, last_day = period
    else:
        last_day = (as_of - timedelta(microseconds=1)).date()
        first_day = last_day - timedelta(days=window_days - 1)
    upvoted_ones = upvoted_papers(engine, first_day, last_day, category=category, submitter=submitter)
    candidates = {p.paper_id: p for p in upvoted_ones}
    # Of the papers with only local activity, the top `offset + limit` by stored trend are enough: every
    # paper below them scores less than each of them. The query walks the trend index and stops there.
    for p in community_papers(engine, first_day, last_day, category=category, cap=offset + limit,
                              submitter=submitter):
        candidates.setdefault(p.paper_id, p)
    ranked = rank_trending(list(candidates.values()), as_of)
    # How many papers have any upvote or local activity (they all rank before the zero-score tail).
    in_range, quiet = window_counts(engine, first_day, last_day, category=category, submitter=submitter)
    upvoted = in_range - quiet
    # Papers without upvotes or local activity all score 0 and follow newest first: fetch only the
    # slice this page shows.
    rest_offset = max(offset - upvoted, 0)
    rest_limit = max(offset + limit - max(offset, upvoted), 0)
    unvoted, unvoted_total = listed_papers(engine, first_day, last_day, category=category, order="newest",
                                           limit=rest_limit, offset=rest_offset, without_upvotes=True,
                                           submitter=submitter)
    page = ranked[offset:offset + limit] + [score_paper(p, as_of) for p in unvoted]
    return page, upvoted + unvoted_total, as_of


def trending_fetch(engine: sa.Engine) -> Callable[[date, date, int], list[Paper]]:
    """The trending ranking restricted to a digest's listing days (a digest's trending section,
    `mail.digest.TrendingFetch`)."""

    def fetch(first: date, last: date, limit: int) -> list[Paper]:
        return [t.paper for t in trending_papers(engine, limit=limit, period=(first, last))[0]]
    return fetch
