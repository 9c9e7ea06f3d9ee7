"""The mail outbox: composed messages persisted before sending, with a careful sending state.

States: queued -> sending (claimed by a run) -> transmitting (the server accepted the recipient, DATA
is sent and the body follows) -> sent; or back to queued with a later `next_attempt_at` (temporary
failure), or failed (permanent failure / too many attempts). See `recover_orphans` for what a crashed
run leaves behind.

The body lives in `mail_outbox_bodies` (written once, deleted once sent: `drop_sent_bodies`), so the
status updates touch a small row.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa

from paperscope.store.papers import utcnow
from paperscope.store.schema import mail_outbox, mail_outbox_bodies, mail_sent_papers

Bind = sa.Engine | sa.Connection


@contextmanager
def _begin(bind: Bind) -> Iterator[sa.Connection]:
    """A transaction on `bind`: a connection the caller keeps (a sender reuses one for every message,
    saving a pool check-out and reset per message) or a fresh one from the engine."""
    if isinstance(bind, sa.Connection):
        with bind.begin():
            yield bind
    else:
        with bind.begin() as conn:
            yield conn


@dataclass
class NewMessage:
    """A composed message to store; `paper_ids` go to the sent-papers log in the same transaction."""

    subscription: int
    kind: str  # digest | confirm
    digest_key: str
    recipient: str
    message_id: str
    raw: bytes
    paper_ids: Sequence[str] = field(default_factory=tuple)


@dataclass(frozen=True)
class ClaimedMessage:
    """An outbox row claimed for sending."""

    id: int
    recipient: str
    raw: bytes
    attempts: int
    kind: str


def composed_for(engine: sa.Engine, sub_ids: Sequence[int], kind: str, digest_key: str) -> set[int]:
    """Which of these subscriptions already have a message of this kind for this period."""
    done: set[int] = set()
    with engine.connect() as conn:
        for i in range(0, len(sub_ids), 900):
            q = sa.select(mail_outbox.c.subscription).where(
                mail_outbox.c.subscription.in_(list(sub_ids[i:i + 900])),
                mail_outbox.c.kind == kind, mail_outbox.c.digest_key == digest_key)
            done.update(conn.execute(q).scalars())
    return done


def enqueue(engine: sa.Engine, messages: Sequence[NewMessage], now: datetime | None = None) -> int:
    """Store composed messages and log their papers as sent, all in one transaction."""
    if not messages:
        return 0
    now = now or utcnow()
    rows = [{"subscription": m.subscription, "kind": m.kind, "digest_key": m.digest_key,
             "recipient": m.recipient, "message_id": m.message_id, "status": "queued",
             "attempts": 0, "next_attempt_at": now, "created_at": now} for m in messages]
    with engine.begin() as conn:
        ids = conn.execute(mail_outbox.insert().returning(mail_outbox.c.id, sort_by_parameter_order=True),
                           rows).scalars().all()
        conn.execute(mail_outbox_bodies.insert(),
                     [{"outbox": oid, "raw": m.raw} for m, oid in zip(messages, ids, strict=True)])
        logged = [{"subscription": m.subscription, "paper_id": p, "outbox": oid}
                  for m, oid in zip(messages, ids, strict=True) for p in dict.fromkeys(m.paper_ids)]
        if logged:
            conn.execute(mail_sent_papers.insert(), logged)
    return len(messages)


def recover_orphans(bind: Bind) -> tuple[int, int]:
    """Deal with rows a killed run left claimed. Call only while holding the single-sender lock.

    `sending` rows never reached the SMTP server's DATA phase, so they go back to the queue: nothing is
    lost and nothing is sent twice. A `transmitting` row is the one message whose body was in flight,
    or whose 250 reply had arrived but was not yet recorded (the sender records it together with the
    next message's marker). We choose at-most-once: it becomes `uncertain` and is not re-sent, because
    a duplicate digest is worse for the reader than the small chance of a lost one, and the only way
    to lose it is a crash during one body transfer. Returns (requeued, uncertain).
    """
    with _begin(bind) as conn:
        requeued = conn.execute(mail_outbox.update().where(mail_outbox.c.status == "sending")
                                .values(status="queued", claim=None, claimed_at=None)).rowcount
        uncertain = conn.execute(
            mail_outbox.update().where(mail_outbox.c.status == "transmitting")
            .values(status="uncertain", claim=None,
                    last_error="sender stopped while transmitting; not re-sent (may have been delivered)")
        ).rowcount
    return requeued, uncertain


def claim_due(bind: Bind, claim: str, limit: int, now: datetime | None = None,
              kind: str | None = None) -> list[ClaimedMessage]:
    """Atomically mark up to `limit` due queued messages (of `kind`, if given) as `sending` under `claim`."""
    now = now or utcnow()
    due = sa.select(mail_outbox.c.id).where(mail_outbox.c.status == "queued",
                                            mail_outbox.c.next_attempt_at <= now)
    if kind is not None:
        due = due.where(mail_outbox.c.kind == kind)
    with _begin(bind) as conn:
        ids = conn.execute(
            due.order_by(mail_outbox.c.next_attempt_at, mail_outbox.c.id).limit(limit)
        ).scalars().all()
        if not ids:
            return []
        # The status condition makes the claim safe even if another sender raced us to some rows.
        conn.execute(mail_outbox.update()
                     .where(mail_outbox.c.id.in_(ids), mail_outbox.c.status == "queued")
                     .values(status="sending", claim=claim, claimed_at=now))
        rows = conn.execute(
            sa.select(mail_outbox.c.id, mail_outbox.c.recipient, mail_outbox_bodies.c.raw,
                      mail_outbox.c.attempts, mail_outbox.c.kind)
            .join_from(mail_outbox, mail_outbox_bodies, mail_outbox_bodies.c.outbox == mail_outbox.c.id,
                       isouter=True)
            .where(mail_outbox.c.claim == claim, mail_outbox.c.status == "sending")
            .order_by(mail_outbox.c.id)
        ).all()
        lost = [r.id for r in rows if r.raw is None]
        if lost:  # only a hand-edited store gets here; such a row could never be sent
            conn.execute(mail_outbox.update().where(mail_outbox.c.id.in_(lost))
                         .values(status="failed", claim=None, last_error="message body missing"))
    return [ClaimedMessage(r.id, r.recipient, bytes(r.raw), r.attempts, r.kind) for r in rows
            if r.raw is not None]


# Built once: these run once per message, and building the statement cost more than executing it.
_TRANSMITTING = (mail_outbox.update().where(mail_outbox.c.id == sa.bindparam("outbox_id"))
                 .values(status="transmitting"))
_SENT = (mail_outbox.update().where(mail_outbox.c.id == sa.bindparam("outbox_id"))
         .values(status="sent", sent_at=sa.bindparam("sent_at"), claim=None, last_error=None))


def mark_transmitting(bind: Bind, outbox_id: int, sent_before: int | None = None,
                      now: datetime | None = None) -> None:
    """Record the point of no return: the body is about to go to the SMTP server.

    `sent_before` is the previous message, whose 250 reply arrived: it is marked sent in the same
    transaction, so a run costs one commit per message instead of two.
    """
    with _begin(bind) as conn:
        if sent_before is not None:
            conn.execute(_SENT, {"outbox_id": sent_before, "sent_at": now or utcnow()})
        conn.execute(_TRANSMITTING, {"outbox_id": outbox_id})


def mark_sent(bind: Bind, outbox_id: int, now: datetime | None = None) -> None:
    """The server replied 250 to the body."""
    with _begin(bind) as conn:
        conn.execute(_SENT, {"outbox_id": outbox_id, "sent_at": now or utcnow()})


def drop_sent_bodies(bind: Bind, outbox_ids: Sequence[int]) -> None:
    """Delete the bodies of those of these messages that are recorded as sent (nothing reads them
    afterwards). One statement for many messages: a sender calls it once per batch."""
    if not outbox_ids:
        return
    with _begin(bind) as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            # SQLite built with SECURE_DELETE (Debian's is) zeroes every freed page: a 25 KB body's
            # overflow pages all went through the WAL again (3.0-4.1 -> 1.8 s wall for 9,907 bodies with
            # FAST, which still zeroes what stays on b-tree pages). The rest of a body is a digest of
            # public papers to an address the subscriptions table holds anyway.
            previous = int(conn.exec_driver_sql("PRAGMA secure_delete").scalar_one())
            conn.exec_driver_sql("PRAGMA secure_delete = FAST")
        try:
            sent = sa.select(mail_outbox.c.id).where(mail_outbox.c.id.in_(list(outbox_ids)),
                                                     mail_outbox.c.status == "sent")
            conn.execute(mail_outbox_bodies.delete().where(mail_outbox_bodies.c.outbox.in_(sent)))
        finally:
            if sqlite:
                conn.exec_driver_sql(f"PRAGMA secure_delete = {previous}")


def release(bind: Bind, outbox_ids: Sequence[int]) -> None:
    """Put claimed messages that were never attempted back in the queue (e.g. the run was interrupted)."""
    if outbox_ids:
        with _begin(bind) as conn:
            conn.execute(mail_outbox.update()
                         .where(mail_outbox.c.id.in_(list(outbox_ids)), mail_outbox.c.status == "sending")
                         .values(status="queued", claim=None, claimed_at=None))


def mark_retry(bind: Bind, outbox_id: int, attempts: int, next_attempt_at: datetime,
               error: str) -> None:
    """A temporary failure: back to the queue, not before `next_attempt_at`."""
    with _begin(bind) as conn:
        conn.execute(mail_outbox.update().where(mail_outbox.c.id == outbox_id)
                     .values(status="queued", attempts=attempts, next_attempt_at=next_attempt_at,
                             claim=None, last_error=error[:2000]))


def mark_failed(bind: Bind, outbox_id: int, attempts: int, error: str) -> None:
    """A permanent failure. Its papers leave the sent log so a later digest may carry them."""
    with _begin(bind) as conn:
        conn.execute(mail_outbox.update().where(mail_outbox.c.id == outbox_id)
                     .values(status="failed", attempts=attempts, claim=None, last_error=error[:2000]))
        conn.execute(mail_sent_papers.delete().where(mail_sent_papers.c.outbox == outbox_id))


def outbox_counts(engine: sa.Engine) -> dict[str, int]:
    """How many messages are in each state."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(mail_outbox.c.status, sa.func.count()).group_by(mail_outbox.c.status))
        return {status: int(n) for status, n in rows}


def next_due(engine: sa.Engine) -> datetime | None:
    """When the earliest queued message becomes due (None when the queue is empty)."""
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.min(mail_outbox.c.next_attempt_at))
                            .where(mail_outbox.c.status == "queued")).scalar_one_or_none()
