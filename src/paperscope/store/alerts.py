"""Alerts: what an account follows (an author, a search, a category), the papers each has matched, and
the webhook outbox. A run stores an alert's matches, its messages (mail outbox and/or webhook outbox)
and its new high-water mark in one transaction, and a paper already matched is never matched again:
at most one delivery per (alert, paper).

The webhook outbox has the mail outbox's states (see store/mail_outbox.py): queued -> sending (claimed)
-> sent, or back to queued with a later `next_attempt_at` after a refusal, or failed; a `sending` row
left by a killed sender becomes `uncertain` and is not re-sent (it may have been delivered).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from paperscope.store.schema import (
    alert_matches,
    alert_outbox,
    alerts,
    groups,
    mail_outbox,
    mail_outbox_bodies,
    papers,
    subscriptions,
    users,
)

KINDS = ("author", "search", "category")
FORMATS = ("slack", "discord", "matrix", "json")
MAX_ALERTS_PER_USER = 200


class AlertProblem(ValueError):
    """An alert that cannot be made; `status` is the HTTP answer."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Alert:
    id: int
    user_id: int
    kind: str
    query: str
    email: bool
    webhook_url: str | None
    webhook_format: str | None
    group_id: int | None
    last_rowid: int
    created_at: datetime
    recipient: str = ""  # the account's address
    group_webhook_url: str | None = None
    group_webhook_format: str | None = None

    @property
    def webhook(self) -> tuple[str, str] | None:
        """(url, format) this alert posts to: its own, else its group's, else none."""
        if self.webhook_url:
            return self.webhook_url, self.webhook_format or "json"
        if self.group_webhook_url:
            return self.group_webhook_url, self.group_webhook_format or "json"
        return None


@dataclass(frozen=True)
class WebhookMessage:
    id: int
    url: str
    payload: str
    attempts: int


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _select() -> sa.Select[tuple[object, ...]]:
    return (sa.select(alerts, users.c.email.label("recipient"), groups.c.webhook_url.label("g_url"),
                      groups.c.webhook_format.label("g_format"))
            .join(users, users.c.id == alerts.c.user_id)
            .outerjoin(groups, groups.c.id == alerts.c.group_id))


def _alert(r: sa.RowMapping) -> Alert:
    return Alert(id=r["id"], user_id=r["user_id"], kind=r["kind"], query=r["query"], email=bool(r["email"]),
                 webhook_url=r["webhook_url"], webhook_format=r["webhook_format"], group_id=r["group_id"],
                 last_rowid=int(r["last_rowid"]), created_at=_aware(r["created_at"]),
                 recipient=r["recipient"],
                 group_webhook_url=r["g_url"], group_webhook_format=r["g_format"])


def create_alert(engine: sa.Engine, user_id: int, *, kind: str, query: str, email: bool,
                 webhook_url: str | None, webhook_format: str | None, group_id: int | None,
                 now: datetime) -> Alert:
    """A new alert for papers added from now on (checked values: the caller validates URLs)."""
    if kind not in KINDS:
        raise AlertProblem(f"kind must be one of {', '.join(KINDS)}")
    if webhook_format is not None and webhook_format not in FORMATS:
        raise AlertProblem(f"webhook format must be one of {', '.join(FORMATS)}")
    with engine.begin() as conn:
        count = conn.execute(sa.select(sa.func.count()).select_from(alerts)
                             .where(alerts.c.user_id == user_id)).scalar_one()
        if count >= MAX_ALERTS_PER_USER:
            raise AlertProblem(f"an account has at most {MAX_ALERTS_PER_USER} alerts", 409)
        top = conn.execute(sa.select(sa.func.max(papers.c.id))).scalar() or 0
        new_id = conn.execute(alerts.insert().values(
            user_id=user_id, kind=kind, query=query, email=email, webhook_url=webhook_url,
            webhook_format=webhook_format if webhook_url else None, group_id=group_id, last_rowid=int(top),
            created_at=now).returning(alerts.c.id)).scalar_one()
        row = conn.execute(_select().where(alerts.c.id == new_id)).mappings().one()
    return _alert(row)


def alerts_of(engine: sa.Engine, user_id: int) -> list[Alert]:
    with engine.connect() as conn:
        rows = conn.execute(_select().where(alerts.c.user_id == user_id)
                            .order_by(alerts.c.id)).mappings().all()
    return [_alert(r) for r in rows]


def all_alerts(engine: sa.Engine) -> list[Alert]:
    """Every alert of an active account with a confirmed address."""
    stmt = _select().where(users.c.status == "active", users.c.email_verified_at.is_not(None))
    with engine.connect() as conn:
        return [_alert(r) for r in conn.execute(stmt.order_by(alerts.c.id)).mappings()]


def delete_alert(engine: sa.Engine, user_id: int, alert_id: int) -> bool:
    with engine.begin() as conn:
        return conn.execute(alerts.delete().where(alerts.c.id == alert_id, alerts.c.user_id == user_id)
                            ).rowcount == 1


def set_group_webhook(engine: sa.Engine, group_id: int, url: str | None, fmt: str | None) -> None:
    if fmt is not None and fmt not in FORMATS:
        raise AlertProblem(f"webhook format must be one of {', '.join(FORMATS)}")
    with engine.begin() as conn:
        conn.execute(groups.update().where(groups.c.id == group_id)
                     .values(webhook_url=url or None, webhook_format=fmt if url else None))


def max_rowid(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.max(papers.c.id))).scalar() or 0)


def unmatched(engine: sa.Engine, alert_id: int, paper_ids: Sequence[str]) -> list[str]:
    """Those of `paper_ids` the alert has not matched before, in the order given."""
    if not paper_ids:
        return []
    with engine.connect() as conn:
        seen = set(conn.execute(sa.select(alert_matches.c.paper_id).where(
            alert_matches.c.alert == alert_id, alert_matches.c.paper_id.in_(list(paper_ids)))).scalars())
    return [p for p in dict.fromkeys(paper_ids) if p not in seen]


@dataclass
class AlertRun:
    """What one alert's run stores: the new matches, its messages, and how far it has looked."""

    alert: Alert
    paper_ids: list[str]
    upto_rowid: int
    webhook: tuple[str, str] | None = None  # (url, JSON payload)
    mail: tuple[str, bytes] | None = None  # (Message-ID, raw message)


def _alert_subscription(conn: sa.Connection, alert: Alert, now: datetime) -> int:
    """The subscription row alert mail is queued under: the address's own, or a dormant one made for it."""
    found = conn.execute(sa.select(subscriptions.c.id)
                         .where(subscriptions.c.email == alert.recipient)).scalar()
    if found is not None:
        return int(found)
    return int(conn.execute(subscriptions.insert().values(
        email=alert.recipient, user_id=alert.user_id, frequency="weekly", sections={}, status="alerts",
        created_at=now).returning(subscriptions.c.id)).scalar_one())


def record_run(engine: sa.Engine, run: AlertRun, now: datetime) -> list[str]:
    """Store a run in one transaction; returns the papers actually recorded (a concurrent run that got
    there first leaves nothing to send: then no message is stored either)."""
    with engine.begin() as conn:
        fresh: list[str] = []
        if run.paper_ids:
            seen = set(conn.execute(sa.select(alert_matches.c.paper_id).where(
                alert_matches.c.alert == run.alert.id,
                alert_matches.c.paper_id.in_(run.paper_ids))).scalars())
            fresh = [p for p in run.paper_ids if p not in seen]
            if fresh:
                conn.execute(alert_matches.insert(),
                             [{"alert": run.alert.id, "paper_id": p, "matched_at": now} for p in fresh])
        if fresh and run.webhook is not None:
            conn.execute(alert_outbox.insert().values(
                alert=run.alert.id, url=run.webhook[0], payload=run.webhook[1], status="queued", attempts=0,
                next_attempt_at=now, created_at=now))
        if fresh and run.mail is not None:
            sub = _alert_subscription(conn, run.alert, now)
            outbox_id = conn.execute(mail_outbox.insert().values(
                subscription=sub, kind="alert", digest_key=f"a{run.alert.id}:{run.upto_rowid}",
                recipient=run.alert.recipient, message_id=run.mail[0], status="queued", attempts=0,
                next_attempt_at=now, created_at=now).returning(mail_outbox.c.id)).scalar_one()
            conn.execute(mail_outbox_bodies.insert().values(outbox=outbox_id, raw=run.mail[1]))
        conn.execute(alerts.update().where(alerts.c.id == run.alert.id, alerts.c.last_rowid < run.upto_rowid)
                     .values(last_rowid=run.upto_rowid))
    return fresh


# Webhook outbox ------------------------------------------------------------------------------------------

def recover_webhooks(engine: sa.Engine) -> int:
    """Rows a killed sender left `sending` may have been delivered: mark them uncertain, never re-send."""
    with engine.begin() as conn:
        return conn.execute(alert_outbox.update().where(alert_outbox.c.status == "sending").values(
            status="uncertain", claim=None,
            last_error="sender stopped during the request; not re-sent (may have been delivered)")).rowcount


def claim_webhooks(engine: sa.Engine, claim: str, limit: int, now: datetime) -> list[WebhookMessage]:
    """Mark up to `limit` due messages `sending` under `claim` and return them."""
    with engine.begin() as conn:
        ids = conn.execute(sa.select(alert_outbox.c.id).where(
            alert_outbox.c.status == "queued", alert_outbox.c.next_attempt_at <= now)
            .order_by(alert_outbox.c.next_attempt_at, alert_outbox.c.id).limit(limit)).scalars().all()
        if not ids:
            return []
        conn.execute(alert_outbox.update()
                     .where(alert_outbox.c.id.in_(ids), alert_outbox.c.status == "queued")
                     .values(status="sending", claim=claim))
        rows = conn.execute(sa.select(alert_outbox.c.id, alert_outbox.c.url, alert_outbox.c.payload,
                                      alert_outbox.c.attempts)
                            .where(alert_outbox.c.claim == claim, alert_outbox.c.status == "sending")
                            .order_by(alert_outbox.c.id)).all()
    return [WebhookMessage(r.id, r.url, r.payload, r.attempts) for r in rows]


def mark_webhook(engine: sa.Engine, message_id: int, *, status: str, attempts: int, now: datetime,
                 next_attempt_at: datetime | None = None, error: str | None = None) -> None:
    """Record an outcome: sent, queued again (with when), or failed."""
    values: dict[str, object] = {"status": status, "attempts": attempts, "claim": None, "last_error": error}
    if status == "sent":
        values["sent_at"] = now
    if next_attempt_at is not None:
        values["next_attempt_at"] = next_attempt_at
    with engine.begin() as conn:
        conn.execute(alert_outbox.update().where(alert_outbox.c.id == message_id).values(**values))


def webhook_counts(engine: sa.Engine) -> dict[str, int]:
    """Webhook messages by state."""
    with engine.connect() as conn:
        return {s: int(n) for s, n in conn.execute(sa.select(alert_outbox.c.status, sa.func.count())
                                                   .group_by(alert_outbox.c.status)).all()}


def webhook_messages(engine: sa.Engine, alert_id: int) -> list[dict[str, object]]:
    """An alert's webhook messages (newest first), for its owner's page and for tests."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(alert_outbox.c.id, alert_outbox.c.status, alert_outbox.c.attempts,
                                      alert_outbox.c.next_attempt_at, alert_outbox.c.last_error)
                            .where(alert_outbox.c.alert == alert_id).order_by(alert_outbox.c.id.desc())
                            ).mappings().all()
    return [dict(r) for r in rows]
