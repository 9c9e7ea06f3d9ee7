"""Digest subscribers: who gets what, how often, and which papers each has already been sent."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa

from paperscope.store.papers import _aware, utcnow
from paperscope.store.schema import mail_sent_papers, subscriptions

Frequency = Literal["daily", "weekly"]
FREQUENCIES: tuple[Frequency, ...] = ("daily", "weekly")
Status = Literal["pending", "active", "unsubscribed"]


@dataclass(frozen=True)
class SavedSearch:
    """A query run for each digest, restricted to new papers; optional category / author filters."""

    query: str
    categories: tuple[str, ...] = ()
    author: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"query": self.query, "categories": list(self.categories), "author": self.author}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SavedSearch:
        return cls(query=str(data["query"]), categories=tuple(data.get("categories") or ()),
                   author=data.get("author") or None)


@dataclass(frozen=True)
class DigestChoice:
    """What a subscriber asked for. Each part becomes one section of the digest, in this order."""

    trending: bool = False
    categories: tuple[str, ...] = ()
    searches: tuple[SavedSearch, ...] = ()
    for_you: bool = False  # the account's personal picks (subscriptions linked to an account only)

    @property
    def empty(self) -> bool:
        return not (self.trending or self.categories or self.searches or self.for_you)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"trending": self.trending, "categories": list(self.categories),
                                "searches": [s.to_json() for s in self.searches]}
        if self.for_you:
            data["for_you"] = True
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DigestChoice:
        return cls(trending=bool(data.get("trending")), categories=tuple(data.get("categories") or ()),
                   searches=tuple(SavedSearch.from_json(s) for s in data.get("searches") or ()),
                   for_you=bool(data.get("for_you")))


@dataclass(frozen=True)
class Subscription:
    """One subscriber row."""

    id: int
    email: str
    frequency: Frequency
    choice: DigestChoice
    per_section: int
    status: Status
    created_at: datetime
    confirmed_at: datetime | None = None
    user_id: int | None = None  # set once accounts exist; digests never depend on it


@dataclass
class SubscribeOutcome:
    """What a subscribe call did: the row, and whether the address still has to confirm."""

    subscription: Subscription
    created: bool
    needs_confirmation: bool
    changed: bool = field(default=False)


def _row(row: sa.RowMapping) -> Subscription:
    return Subscription(
        id=row["id"], email=row["email"], frequency=row["frequency"],
        choice=DigestChoice.from_json(row["sections"]), per_section=row["per_section"],
        status=row["status"], created_at=_aware(row["created_at"]) or utcnow(),
        confirmed_at=_aware(row["confirmed_at"]), user_id=row["user_id"],
    )


def subscribe(engine: sa.Engine, email: str, frequency: Frequency, choice: DigestChoice,
              per_section: int = 5, user_id: int | None = None) -> SubscribeOutcome:
    """Create or update the subscription for `email` (already normalised). Idempotent.

    An active subscriber keeps their confirmation (only the preferences change); a new or previously
    unsubscribed address is `pending` until it follows the confirmation link.
    """
    values = {"frequency": frequency, "sections": choice.to_json(), "per_section": per_section}
    with engine.begin() as conn:
        old = conn.execute(sa.select(subscriptions).where(subscriptions.c.email == email)).mappings().first()
        if old is None:
            conn.execute(subscriptions.insert().values(
                email=email, user_id=user_id, status="pending", created_at=utcnow(), **values))
            created, changed = True, True
        else:
            created = False
            # "alerts": a row made only to mail an account's alerts; subscribing starts from scratch.
            dormant = old["status"] in ("unsubscribed", "alerts")
            changed = any(old[k] != v for k, v in values.items()) or dormant
            if changed:
                update: dict[str, Any] = dict(values)
                if dormant:
                    update.update(status="pending", unsubscribed_at=None)
                if user_id is not None:
                    update["user_id"] = user_id
                conn.execute(subscriptions.update().where(subscriptions.c.id == old["id"]).values(update))
        row = conn.execute(sa.select(subscriptions).where(subscriptions.c.email == email)).mappings().one()
    sub = _row(row)
    return SubscribeOutcome(sub, created=created, needs_confirmation=sub.status != "active", changed=changed)


def get_subscription(engine: sa.Engine, sub_id: int) -> Subscription | None:
    """The subscription with this id, or None."""
    with engine.connect() as conn:
        row = conn.execute(sa.select(subscriptions).where(subscriptions.c.id == sub_id)).mappings().first()
    return _row(row) if row else None


def find_subscription(engine: sa.Engine, email: str) -> Subscription | None:
    """The subscription for this (normalised) address, or None."""
    with engine.connect() as conn:
        row = conn.execute(sa.select(subscriptions).where(subscriptions.c.email == email)).mappings().first()
    return _row(row) if row else None


def confirm(engine: sa.Engine, sub_id: int) -> bool:
    """Activate a pending subscription; True when it is active afterwards (confirming twice is fine)."""
    with engine.begin() as conn:
        conn.execute(subscriptions.update()
                     .where(subscriptions.c.id == sub_id, subscriptions.c.status == "pending")
                     .values(status="active", confirmed_at=utcnow()))
        status = conn.execute(sa.select(subscriptions.c.status)
                              .where(subscriptions.c.id == sub_id)).scalar_one_or_none()
    return status == "active"


def unsubscribe(engine: sa.Engine, sub_id: int) -> bool:
    """Stop every digest for this subscriber; True if the subscription exists. Idempotent."""
    with engine.begin() as conn:
        conn.execute(subscriptions.update()
                     .where(subscriptions.c.id == sub_id, subscriptions.c.status != "unsubscribed")
                     .values(status="unsubscribed", unsubscribed_at=utcnow()))
        found = conn.execute(sa.select(subscriptions.c.id).where(subscriptions.c.id == sub_id)).first()
    return found is not None


def iter_active(engine: sa.Engine, frequencies: Iterable[Frequency],
                batch_size: int = 1000) -> Iterator[list[Subscription]]:
    """Active subscriptions with one of these frequencies, in id order, a batch at a time."""
    freqs = list(frequencies)
    last = 0
    while freqs:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.select(subscriptions)
                .where(subscriptions.c.id > last, subscriptions.c.status == "active",
                       subscriptions.c.frequency.in_(freqs))
                .order_by(subscriptions.c.id).limit(batch_size)
            ).mappings().all()
        if not rows:
            return
        yield [_row(r) for r in rows]
        last = rows[-1]["id"]


def sent_paper_ids(engine: sa.Engine, sub_ids: Sequence[int]) -> dict[int, set[str]]:
    """For each subscription, the paper ids already sent (or queued) to it."""
    found: dict[int, set[str]] = {s: set() for s in sub_ids}
    with engine.connect() as conn:
        for i in range(0, len(sub_ids), 900):
            q = sa.select(mail_sent_papers.c.subscription, mail_sent_papers.c.paper_id).where(
                mail_sent_papers.c.subscription.in_(list(sub_ids[i:i + 900])))
            for sub, paper in conn.execute(q):
                found[sub].add(paper)
    return found


def add_subscriptions_bulk(engine: sa.Engine, rows: Sequence[tuple[str, Frequency, DigestChoice]],
                           per_section: int = 5) -> int:
    """Insert already-confirmed subscribers in one transaction (imports and benchmarks); returns count."""
    now = utcnow()
    with engine.begin() as conn:
        conn.execute(subscriptions.insert(), [
            {"email": email, "frequency": freq, "sections": choice.to_json(), "per_section": per_section,
             "status": "active", "created_at": now, "confirmed_at": now}
            for email, freq, choice in rows])
    return len(rows)
