"""Listing queries for the feed: papers listed in a date range, neighbouring listing days, category counts.

Every query here is bounded by an indexed column (`papers.listed`, `paper_categories` primary key) and
returns whole pages in one statement, so a feed page costs two queries whatever its size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Literal

import sqlalchemy as sa

from paperscope.model import Paper
from paperscope.store.papers import row_to_paper
from paperscope.store.schema import comments, paper_categories, paper_submissions, papers

ListingOrder = Literal["upvotes", "newest"]


def _in_range(stmt: sa.Select, date_from: date | None, date_to: date | None,
              category: str | None, submitter: str | None = None) -> sa.Select:
    if date_from is not None:
        stmt = stmt.where(papers.c.listed >= date_from)
    if date_to is not None:
        stmt = stmt.where(papers.c.listed <= date_to)
    if category:
        # Cross-listed papers count too. A correlated EXISTS probes the (category, paper) primary key
        # per candidate row, so the planner still walks `listed` in index order and stops early.
        stmt = stmt.where(sa.exists().where(paper_categories.c.category == category,
                                            paper_categories.c.paper == papers.c.id))
    if submitter:  # who put it on the daily page (Hugging Face or a local submission)
        stmt = stmt.where(papers.c.hf_submitted_by == submitter)
    return stmt.where(papers.c.hidden.is_(False))  # moderators' hidden papers leave every listing


# What pages show and sort by: Hugging Face upvotes plus this installation's own.
TOTAL_UPVOTES = papers.c.hf_upvotes + papers.c.local_upvotes
# Papers nobody has upvoted here or on Hugging Face. The `+ 0` stops SQLite from answering the IS NULL
# through the community_trend index (almost every paper is NULL there, so it would visit them all)
# instead of walking the listing-date range: 540 ms -> 18 ms for a week of the 74.7k snapshot.
QUIET = sa.and_(TOTAL_UPVOTES == 0, (papers.c.community_trend + 0).is_(None))


def listed_papers(
    engine: sa.Engine,
    date_from: date | None,
    date_to: date | None,
    *,
    category: str | None = None,
    order: ListingOrder = "upvotes",
    limit: int = 30,
    offset: int = 0,
    without_upvotes: bool = False,
    submitter: str | None = None,
) -> tuple[list[Paper], int]:
    """One page of papers listed between the two dates (inclusive), and how many there are in all.

    `without_upvotes` keeps only papers nobody has upvoted (the tail of the trending list); `submitter`
    only those that user submitted to the daily page (filtered before paging).
    """
    ordering: tuple[sa.UnaryExpression, ...]
    if order == "upvotes":
        ordering = (TOTAL_UPVOTES.desc(), papers.c.listed.desc(), papers.c.paper_id.desc())
    else:
        ordering = (papers.c.listed.desc(), papers.c.paper_id.desc())
    # Rank row ids first, then read the page's full rows: the sort then moves small tuples instead of
    # every candidate's abstract (a third faster on a 500-paper day).
    page = _in_range(sa.select(papers.c.id), date_from, date_to, category, submitter).order_by(*ordering)
    count = _in_range(sa.select(sa.func.count()).select_from(papers), date_from, date_to, category, submitter)
    if without_upvotes:
        quiet = QUIET
        page = page.where(quiet)
        count = count.where(quiet)
    with engine.connect() as conn:
        ids = [row[0] for row in conn.execute(page.limit(limit).offset(offset))]
        rows = conn.execute(sa.select(papers).where(papers.c.id.in_(ids))).mappings().all() if ids else []
        total = int(conn.execute(count).scalar_one())
    by_id = {row["id"]: row for row in rows}
    return [row_to_paper(by_id[i]) for i in ids if i in by_id], total


def upvoted_papers(engine: sa.Engine, date_from: date, date_to: date, *, category: str | None = None,
                   cap: int = 2000, submitter: str | None = None) -> list[Paper]:
    """Papers in the range with at least one upvote (the trending candidates), most upvoted first."""
    stmt = _in_range(sa.select(papers).where(papers.c.hf_upvotes > 0), date_from, date_to, category,
                     submitter)
    stmt = stmt.order_by(papers.c.hf_upvotes.desc(), papers.c.paper_id.desc()).limit(cap)
    with engine.connect() as conn:
        return [row_to_paper(r) for r in conn.execute(stmt).mappings()]


def community_papers(engine: sa.Engine, date_from: date, date_to: date, *, category: str | None = None,
                     cap: int = 2000, chunk: int = 500, submitter: str | None = None) -> list[Paper]:
    """Papers in the range with local votes or submissions, highest stored community trend first.

    The stored trend orders papers the same way at every moment (see feed/trending.py), so this walks
    the `community_trend` index from the top in chunks and stops once `cap` papers of the range are
    found. (Left to itself the planner prefers the `listed` range and sorts the whole window.) Recent
    activity has the highest stored values, so papers of the range come first in that walk.
    """
    found: list[int] = []
    below: float | None = None
    with engine.connect() as conn:
        while len(found) < cap:
            # Narrow rows while walking; whole papers only for the ones kept.
            stmt = sa.select(papers.c.id, papers.c.listed, papers.c.community_trend).where(
                papers.c.community_trend.is_not(None), papers.c.hidden.is_(False))
            if submitter:
                stmt = stmt.where(papers.c.hf_submitted_by == submitter)
            if below is not None:
                stmt = stmt.where(papers.c.community_trend < below)
            rows = conn.execute(stmt.order_by(papers.c.community_trend.desc()).limit(chunk)).mappings().all()
            in_range = [r for r in rows if r["listed"] is not None and date_from <= r["listed"] <= date_to]
            if category and in_range:
                members = set(conn.execute(sa.select(paper_categories.c.paper).where(
                    paper_categories.c.category == category,
                    paper_categories.c.paper.in_([r["id"] for r in in_range]))).scalars())
                in_range = [r for r in in_range if r["id"] in members]
            found += [r["id"] for r in in_range]
            if len(rows) < chunk:
                break
            below = rows[-1]["community_trend"]
        kept = found[:cap]
        by_id: dict[int, Paper] = {}
        if kept:
            for row in conn.execute(sa.select(papers).where(papers.c.id.in_(kept))).mappings():
                by_id[row["id"]] = row_to_paper(row)
    return [by_id[i] for i in kept if i in by_id]


def window_counts(engine: sa.Engine, date_from: date, date_to: date, *,
                  category: str | None = None, submitter: str | None = None) -> tuple[int, int]:
    """(papers listed in the range, of which without any upvote or local activity), in one pass."""
    quiet = QUIET
    counts = sa.select(sa.func.count(), sa.func.sum(sa.case((quiet, 1), else_=0))).select_from(papers)
    stmt = _in_range(counts, date_from, date_to, category, submitter)
    with engine.connect() as conn:
        total, silent = conn.execute(stmt).one()
    return int(total or 0), int(silent or 0)


def _last_day(category: str | None, before: date | None = None) -> sa.Select:
    stmt = _in_range(sa.select(papers.c.listed), None, before, category).where(papers.c.listed.is_not(None))
    if before is not None:
        stmt = stmt.where(papers.c.listed < before)
    return stmt.order_by(papers.c.listed.desc()).limit(1)


def latest_listing_day(engine: sa.Engine, category: str | None = None) -> date | None:
    """The newest listing date with papers (in the category, when given)."""
    with engine.connect() as conn:
        return conn.execute(_last_day(category)).scalar()


def neighbouring_listing_days(engine: sa.Engine, start: date, end: date,
                              category: str | None = None) -> tuple[date | None, date | None]:
    """The last listing day before `start` and the first after `end` that have papers."""
    after = (_in_range(sa.select(papers.c.listed), None, None, category).where(papers.c.listed > end)
             .order_by(papers.c.listed).limit(1))
    with engine.connect() as conn:
        return conn.execute(_last_day(category, start)).scalar(), conn.execute(after).scalar()


def category_counts(engine: sa.Engine, date_from: date | None = None, date_to: date | None = None,
                    *, primary_only: bool = False) -> list[tuple[str, int]]:
    """(category, number of papers) for papers listed in the range, largest first."""
    stmt = sa.select(paper_categories.c.category, sa.func.count().label("n"))
    if date_from is not None or date_to is not None:
        stmt = stmt.select_from(paper_categories.join(papers, papers.c.id == paper_categories.c.paper))
        if date_from is not None:
            stmt = stmt.where(papers.c.listed >= date_from)
        if date_to is not None:
            stmt = stmt.where(papers.c.listed <= date_to)
    if primary_only:
        stmt = stmt.where(paper_categories.c.position == 0)
    stmt = stmt.group_by(paper_categories.c.category).order_by(sa.desc("n"), paper_categories.c.category)
    with engine.connect() as conn:
        return [(str(c), int(n)) for c, n in conn.execute(stmt)]


def papers_by_ids(engine: sa.Engine, paper_ids: Sequence[str]) -> dict[str, Paper]:
    """Papers for these stable ids, in one query (missing ids are left out)."""
    found: dict[str, Paper] = {}
    with engine.connect() as conn:
        for i in range(0, len(paper_ids), 900):
            stmt = sa.select(papers).where(papers.c.paper_id.in_(list(paper_ids[i:i + 900])))
            for row in conn.execute(stmt).mappings():
                found[row["paper_id"]] = row_to_paper(row)
    return found


@dataclass(frozen=True)
class PaperPage:
    """A paper with what its page needs beyond the row: whether it has comments or submissions."""

    paper: Paper
    hidden: bool
    has_comments: bool
    has_submissions: bool


# Built once: the paper page is the most requested uncached page, and building the statement costs
# as much as running it.
_PAPER_PAGE = sa.select(
    papers,
    sa.exists().where(comments.c.paper == papers.c.id, comments.c.removed_at.is_(None))
    .label("has_comments"),
    sa.exists().where(paper_submissions.c.paper == papers.c.id).label("has_submissions"),
).where(papers.c.paper_id == sa.bindparam("key"))


def paper_page(engine: sa.Engine, paper_id: str) -> PaperPage | None:
    """The paper with this stable id and whether it has comments / submissions, in one query (both
    probe an index), so a page only asks for those when there are some. None when unknown."""
    with engine.connect() as conn:
        row = conn.execute(_PAPER_PAGE, {"key": paper_id}).mappings().first()
    if row is None:
        return None
    return PaperPage(row_to_paper(row), bool(row["hidden"]), bool(row["has_comments"]),
                     bool(row["has_submissions"]))
