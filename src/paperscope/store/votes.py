"""Local upvotes, submissions to a day's feed, and moderators hiding papers.

Every write keeps the counters on `papers` in step in the same transaction: `local_upvotes` (shown and
sorted on beside Hugging Face upvotes) and `community_trend`, the stored trending term — a vote adds
one decayed term in O(1); taking a vote back recomputes that one paper from its remaining events.
The arithmetic lives in feed/trending.py and is passed in, so the store stays below the feed stage.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

import sqlalchemy as sa

from paperscope.store.schema import paper_submissions, paper_votes, papers, users

# (current trend, event time, weight) -> new trend; and all events -> trend (None when there are none).
AddEvent = Callable[[float | None, datetime, float], float]
TrendOf = Callable[[Iterable[tuple[datetime, float]]], float | None]


class AlreadyListed(ValueError):
    """The paper is already on that day's feed."""


@dataclass(frozen=True)
class VoteResult:
    """What a vote or un-vote did, and the paper's local count afterwards."""

    changed: bool
    local_upvotes: int


@dataclass(frozen=True)
class Submission:
    """A paper put on a day's feed by a user."""

    paper_id: str
    day: date
    username: str | None
    created_at: datetime


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def paper_rowid(engine: sa.Engine, paper_id: str) -> int | None:
    """The store's row id of a paper, by stable id."""
    with engine.connect() as conn:
        return conn.execute(sa.select(papers.c.id).where(papers.c.paper_id == paper_id)).scalar()


def _lock_paper(conn: sa.Connection, rowid: int) -> sa.RowMapping:
    # FOR UPDATE serialises concurrent votes on one paper on PostgreSQL (SQLite serialises all writers).
    stmt = sa.select(papers.c.local_upvotes, papers.c.community_trend).where(papers.c.id == rowid)
    if conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    return conn.execute(stmt).mappings().one()


def _events(conn: sa.Connection, rowid: int, submission_weight: float) -> list[tuple[datetime, float]]:
    votes = conn.execute(sa.select(paper_votes.c.created_at).where(paper_votes.c.paper == rowid)).scalars()
    subs = conn.execute(sa.select(paper_submissions.c.created_at)
                        .where(paper_submissions.c.paper == rowid)).scalars()
    return [(_aware(t), 1.0) for t in votes] + [(_aware(t), submission_weight) for t in subs]


def upvote(engine: sa.Engine, user_id: int, rowid: int, now: datetime, add_event: AddEvent) -> VoteResult:
    """One vote per user and paper: a second vote changes nothing, even when both arrive at once."""
    try:
        return _upvote(engine, user_id, rowid, now, add_event)
    except sa.exc.IntegrityError:
        # A concurrent request by the same user inserted the vote first (the primary key refused ours).
        with engine.connect() as conn:
            count = conn.execute(sa.select(papers.c.local_upvotes).where(papers.c.id == rowid)).scalar_one()
        return VoteResult(False, int(count))


def _upvote(engine: sa.Engine, user_id: int, rowid: int, now: datetime, add_event: AddEvent) -> VoteResult:
    with engine.begin() as conn:
        current = _lock_paper(conn, rowid)
        exists = conn.execute(sa.select(paper_votes.c.user_id).where(
            paper_votes.c.user_id == user_id, paper_votes.c.paper == rowid)).first()
        if exists is not None:
            return VoteResult(False, current["local_upvotes"])
        conn.execute(paper_votes.insert().values(user_id=user_id, paper=rowid, created_at=now))
        count = current["local_upvotes"] + 1
        conn.execute(papers.update().where(papers.c.id == rowid).values(
            local_upvotes=count, community_trend=add_event(current["community_trend"], now, 1.0)))
    return VoteResult(True, count)


def unvote(engine: sa.Engine, user_id: int, rowid: int, trend_of: TrendOf,
           submission_weight: float) -> VoteResult:
    """Take a vote back (no-op without one); the paper's trend is recomputed from what remains."""
    with engine.begin() as conn:
        current = _lock_paper(conn, rowid)
        gone = conn.execute(paper_votes.delete().where(paper_votes.c.user_id == user_id,
                                                       paper_votes.c.paper == rowid)).rowcount
        if not gone:
            return VoteResult(False, current["local_upvotes"])
        count = max(current["local_upvotes"] - 1, 0)
        conn.execute(papers.update().where(papers.c.id == rowid).values(
            local_upvotes=count, community_trend=trend_of(_events(conn, rowid, submission_weight))))
    return VoteResult(True, count)


def voted_papers(engine: sa.Engine, user_id: int, rowids: Sequence[int]) -> set[int]:
    """Which of these papers the user has upvoted."""
    if not rowids:
        return set()
    with engine.connect() as conn:
        return set(conn.execute(sa.select(paper_votes.c.paper).where(
            paper_votes.c.user_id == user_id, paper_votes.c.paper.in_(list(rowids)))).scalars())


def submit(engine: sa.Engine, user_id: int, rowid: int, username: str, day: date, now: datetime,
           add_event: AddEvent, submission_weight: float, *, first_listing: bool = False) -> None:
    """Record a submission of a paper on `day`, credited to the user. AlreadyListed if already on that day.

    A submission is its own record (the submission row, with its day and submitter). The paper's first
    listing date stays: rewriting it would move an old paper out of its day's feed and make the newest
    "day" consist of submissions alone. Only a paper that was never listed (fetched from arXiv for
    this submission: `first_listing`, or no listing date) is listed on the submission day, credited to
    its submitter.
    """
    with engine.begin() as conn:
        current = _lock_paper(conn, rowid)
        listed = conn.execute(sa.select(papers.c.listed).where(papers.c.id == rowid)).scalar()
        taken = conn.execute(sa.select(paper_submissions.c.id).where(
            paper_submissions.c.paper == rowid, paper_submissions.c.day == day)).first()
        if taken is not None or listed == day:
            raise AlreadyListed(f"this paper is already on the feed of {day.isoformat()}")
        try:
            with conn.begin_nested():
                conn.execute(paper_submissions.insert().values(paper=rowid, day=day, user_id=user_id,
                                                               previous_listed=listed, created_at=now))
        except sa.exc.IntegrityError as exc:
            raise AlreadyListed(f"this paper is already on the feed of {day.isoformat()}") from exc
        first: dict[str, object] = {}
        if first_listing or listed is None:
            first = {"listed": day, "hf_submitted_at": now, "hf_submitted_by": username}
        conn.execute(papers.update().where(papers.c.id == rowid).values(
            **first, modified=now,
            community_trend=add_event(current["community_trend"], now, submission_weight)))


def submissions_of(engine: sa.Engine, rowid: int) -> list[Submission]:
    """A paper's submissions, newest first, with the submitter's name."""
    stmt = (sa.select(papers.c.paper_id, paper_submissions.c.day, users.c.username,
                      paper_submissions.c.created_at)
            .select_from(paper_submissions.join(papers, papers.c.id == paper_submissions.c.paper)
                         .outerjoin(users, users.c.id == paper_submissions.c.user_id))
            .where(paper_submissions.c.paper == rowid).order_by(paper_submissions.c.created_at.desc()))
    with engine.connect() as conn:
        return [Submission(r[0], r[1], r[2], _aware(r[3])) for r in conn.execute(stmt)]


def set_hidden(engine: sa.Engine, rowid: int, hidden: bool) -> None:
    """Hide a paper from every listing (or show it again)."""
    with engine.begin() as conn:
        conn.execute(papers.update().where(papers.c.id == rowid).values(hidden=hidden))


def is_hidden(engine: sa.Engine, rowid: int) -> bool:
    """Whether moderators have hidden the paper."""
    with engine.connect() as conn:
        return bool(conn.execute(sa.select(papers.c.hidden).where(papers.c.id == rowid)).scalar())


def paper_id_of(engine: sa.Engine, rowid: int) -> str | None:
    """The stable id of the paper in this row."""
    with engine.connect() as conn:
        return conn.execute(sa.select(papers.c.paper_id).where(papers.c.id == rowid)).scalar()
