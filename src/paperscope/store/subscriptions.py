"""Digest subscribers: who gets what, how often, and which papers each has already been sent."""

from __future__ import annotations

import hashlib
import json
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
    """What a subscribe call did: the row, and the change its confirmation link must carry (None when
    the request changes nothing, so no link is needed)."""

    subscription: Subscription
    created: bool
    change: str | None
    changed: bool = field(default=False)

    @property
    def needs_confirmation(self) -> bool:
        return self.change is not None


def change_digest(frequency: str, choice: DigestChoice, per_section: int) -> str:
    """A short fingerprint of one requested digest setup; confirmation links carry it, so a link
    applies exactly the request it was mailed for."""
    text = json.dumps({"frequency": frequency, "sections": choice.to_json(), "per_section": per_section},
                      sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _row(row: sa.RowMapping) -> Subscription:
    return Subscription(
        id=row["id"], email=row["email"], frequency=row["frequency"],
        choice=DigestChoice.from_json(row["sections"]), per_section=row["per_section"],
        status=row["status"], created_at=_aware(row["created_at"]) or utcnow(),
        confirmed_at=_aware(row["confirmed_at"]), user_id=row["user_id"],
    )


_LIVE = ("frequency", "sections", "per_section")


def _digest_of(values: dict[str, Any]) -> str:
    return change_digest(values["frequency"], DigestChoice.from_json(values["sections"]),
                         int(values["per_section"]))


def subscribe(engine: sa.Engine, email: str, frequency: Frequency, choice: DigestChoice,
              per_section: int = 5, user_id: int | None = None) -> SubscribeOutcome:
    """Record a request for `email` (already normalised). Idempotent.

    A new address gets a `pending` row with the request. For an address already here nothing that
    the digests read changes: the request waits in `pending_change` until its mailed link applies it
    (`confirm`), so nobody rewrites or revives someone else's digest by knowing the address. A
    request identical to an active subscription changes nothing and needs no link.
    """
    values: dict[str, Any] = {"frequency": frequency, "sections": choice.to_json(),
                              "per_section": per_section}
    change = change_digest(frequency, choice, per_section)
    with engine.begin() as conn:
        old = conn.execute(sa.select(subscriptions).where(subscriptions.c.email == email)).mappings().first()
        if old is None:
            conn.execute(subscriptions.insert().values(
                email=email, user_id=user_id, status="pending", created_at=utcnow(), **values))
            created, changed = True, True
        else:
            created = False
            live = {k: old[k] for k in _LIVE}
            changed = old["status"] != "active" or _digest_of(live) != change
            if not changed:
                conn.execute(subscriptions.update().where(subscriptions.c.id == old["id"])
                             .values(pending_change=None))
            else:
                conn.execute(subscriptions.update().where(subscriptions.c.id == old["id"])
                             .values(pending_change=values))
        row = conn.execute(sa.select(subscriptions).where(subscriptions.c.email == email)).mappings().one()
    return SubscribeOutcome(_row(row), created=created, change=change if changed else None, changed=changed)


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


class StaleChange(ValueError):
    """A confirmation link for a request that a newer request has replaced."""


def confirm(engine: sa.Engine, sub_id: int, change: str | None = None) -> bool:
    """Apply what the confirmation link was mailed for and activate the subscription; True when it is
    active afterwards (confirming twice is fine).

    `change` is the link's fingerprint of the request: the waiting `pending_change` when it matches,
    else the row itself (a new subscription). A link whose request was replaced by a newer one raises
    StaleChange. Links mailed before fingerprints existed (`change` None) only activate.
    """
    with engine.begin() as conn:
        row = conn.execute(sa.select(subscriptions).where(subscriptions.c.id == sub_id)).mappings().first()
        if row is None:
            return False
        pending = row["pending_change"]
        update: dict[str, Any] = {}
        if change is not None and pending and _digest_of(pending) == change:
            update = {**pending, "pending_change": None}
        elif row["status"] == "unsubscribed":
            raise StaleChange("this subscription was cancelled; subscribe again to get a new link")
        elif change is not None and _digest_of({k: row[k] for k in _LIVE}) != change:
            raise StaleChange("this link is for an older request; open the newest link mailed to you")
        if row["status"] != "active" or update:
            update.update(status="active", unsubscribed_at=None)
            if row["status"] != "active":
                update["confirmed_at"] = utcnow()
            conn.execute(subscriptions.update().where(subscriptions.c.id == sub_id).values(update))
    return True


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
