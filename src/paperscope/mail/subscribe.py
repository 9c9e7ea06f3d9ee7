"""Subscribing with double opt-in, confirming and unsubscribing through signed links."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from email_validator import EmailNotValidError, validate_email

from paperscope.mail.compose import Composer
from paperscope.mail.tokens import BadToken, MailTokens, SubscriberRef
from paperscope.settings import Settings
from paperscope.store import subscriptions as subs_store
from paperscope.store.mail_outbox import NewMessage, composed_for, enqueue
from paperscope.store.papers import utcnow
from paperscope.store.subscriptions import (
    FREQUENCIES,
    DigestChoice,
    SavedSearch,
    SubscribeOutcome,
    Subscription,
)

MAX_CATEGORIES = 20
MAX_SEARCHES = 10
MAX_QUERY_CHARS = 200
_CATEGORY = re.compile(r"^[a-z][a-z\-]*(\.[A-Za-z][A-Za-z\-]*)?$")


class InvalidSubscription(ValueError):
    """The request cannot be accepted; the message says why, in words a person can act on."""


def normalize_address(text: str) -> str:
    """The address in normalised form, or InvalidSubscription. Syntax only: no DNS lookups."""
    try:
        # ASCII only: every SMTP server can carry it, and the envelope needs no SMTPUTF8.
        normalized = validate_email(text.strip(), check_deliverability=False, allow_smtputf8=False).normalized
    except EmailNotValidError as exc:
        raise InvalidSubscription(f"{text.strip()!r} is not a valid email address: {exc}") from None
    # Local parts are case-sensitive in theory but not at any real provider; one subscription per person.
    return normalized.lower()


@dataclass(frozen=True)
class SubscriptionRequest:
    """What a form or API call asks for, before validation."""

    email: str
    frequency: str = "weekly"
    trending: bool = False
    categories: tuple[str, ...] = ()
    searches: tuple[SavedSearch, ...] = ()
    per_section: int = 5


def validated_choice(req: SubscriptionRequest) -> DigestChoice:
    """The DigestChoice a request describes, or InvalidSubscription naming the problem."""
    if req.frequency not in FREQUENCIES:
        raise InvalidSubscription(f"frequency must be daily or weekly, not {req.frequency!r}")
    if not 1 <= req.per_section <= 20:
        raise InvalidSubscription("papers per section must be between 1 and 20")
    cats = tuple(dict.fromkeys(c.strip() for c in req.categories if c.strip()))
    bad = [c for c in cats if not _CATEGORY.match(c)]
    if bad:
        raise InvalidSubscription(f"not an arXiv category: {', '.join(bad)} (e.g. cs.CL, hep-th)")
    if len(cats) > MAX_CATEGORIES:
        raise InvalidSubscription(f"at most {MAX_CATEGORIES} categories")
    searches = []
    for s in req.searches:
        query = " ".join(s.query.split())
        if not query:
            continue
        if len(query) > MAX_QUERY_CHARS:
            raise InvalidSubscription(f"a saved search is limited to {MAX_QUERY_CHARS} characters")
        searches.append(SavedSearch(query, tuple(c for c in s.categories if _CATEGORY.match(c)),
                                    (s.author or "").strip() or None))
    if len(searches) > MAX_SEARCHES:
        raise InvalidSubscription(f"at most {MAX_SEARCHES} saved searches")
    choice = DigestChoice(trending=req.trending, categories=cats, searches=tuple(dict.fromkeys(searches)))
    if choice.empty:
        raise InvalidSubscription("choose at least one thing to receive: trending, a category or a search")
    return choice


def request_subscription(engine: sa.Engine, settings: Settings, req: SubscriptionRequest,
                         user_id: int | None = None, now: datetime | None = None) -> SubscribeOutcome:
    """Validate, store (idempotently) and, when the request changes anything, queue the confirmation
    mail whose link applies it (see `subs_store.subscribe`).

    Repeating the same request within the same hour queues no second confirmation mail.
    """
    address = normalize_address(req.email)
    choice = validated_choice(req)
    outcome = subs_store.subscribe(engine, address, req.frequency, choice,  # type: ignore[arg-type]
                                   per_section=req.per_section, user_id=user_id)
    if outcome.change is not None:
        now = now or utcnow()
        sub = outcome.subscription
        key = f"{now:%Y-%m-%dT%H}:{outcome.change[:8]}"
        if not composed_for(engine, [sub.id], "confirm", key):
            tokens = MailTokens(settings)
            built = Composer(settings).confirmation(
                to=sub.email, frequency=req.frequency,
                confirm_url=tokens.confirm_url(SubscriberRef(sub.id, sub.email, outcome.change)), now=now)
            enqueue(engine, [NewMessage(sub.id, "confirm", key, sub.email, built.message_id, built.raw)], now)
    return outcome


def _subscriber(engine: sa.Engine, ref: SubscriberRef) -> Subscription:
    sub = subs_store.get_subscription(engine, ref.subscription)
    if sub is None or sub.email != ref.email:
        raise BadToken("this link belongs to a subscription that no longer exists")
    return sub


def confirm_from_token(engine: sa.Engine, settings: Settings, token: str) -> Subscription:
    """Activate the subscription a confirmation link names (BadToken when invalid or expired)."""
    ref = MailTokens(settings).read_confirm(token)
    sub = _subscriber(engine, ref)
    try:
        subs_store.confirm(engine, sub.id, ref.change)
    except subs_store.StaleChange as exc:
        raise BadToken(str(exc)) from None
    return subs_store.get_subscription(engine, sub.id) or sub


def subscriber_from_unsubscribe_token(engine: sa.Engine, settings: Settings, token: str) -> Subscription:
    """Who an unsubscribe link is for (BadToken when it is not valid)."""
    return _subscriber(engine, MailTokens(settings).read_unsubscribe(token))


def unsubscribe_from_token(engine: sa.Engine, settings: Settings, token: str) -> Subscription:
    """Cancel every digest for the subscriber the link names. Idempotent."""
    sub = subscriber_from_unsubscribe_token(engine, settings, token)
    subs_store.unsubscribe(engine, sub.id)
    return subs_store.get_subscription(engine, sub.id) or sub
