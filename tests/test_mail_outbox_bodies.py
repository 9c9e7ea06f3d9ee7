"""Message bodies live apart from their outbox rows (migration 0007): an existing outbox keeps every
unsent message and its sent log, and a body is gone once its message is sent."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from paperscope.cli.digest import trending_fetch
from paperscope.mail.outbox import Deliverer, sender_lock
from paperscope.mail.runner import run_cycle
from paperscope.mail.smtp import SmtpConfig, SmtpTransport
from paperscope.settings import Settings
from paperscope.store import create_engine
from paperscope.store.db import _alembic_config, current_revision, head_revision, upgrade
from paperscope.store.schema import mail_outbox, mail_outbox_bodies
from paperscope.store.subscriptions import sent_paper_ids
from tests.mail_data import load_papers
from tests.smtp_server import SmtpServer
from tests.support.mail_delivery import TUESDAY, configured, subscribe_many

# The backend matters here (tests/conftest.py): every store-backed test runs on SQLite and PostgreSQL.
pytestmark = pytest.mark.both_backends

BODY = b"Subject: kept\r\nFrom: a@example.org\r\nTo: %s\r\n\r\nbody of message %d\r\n"


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


def _outbox_at_0006(eng: sa.Engine) -> None:
    """A 0006 store with three subscribers whose messages are sent, queued and failed."""
    from alembic import command

    cfg = _alembic_config()
    with eng.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0006")
    now = datetime(2026, 11, 20, tzinfo=UTC)
    with eng.begin() as conn:
        for i, status in enumerate(("sent", "queued", "failed"), start=1):
            conn.execute(sa.text(
                "INSERT INTO subscriptions (id, email, frequency, sections, per_section, status, created_at) "
                "VALUES (:i, :e, 'daily', '{\"trending\": true}', 5, 'active', :now)"),
                {"i": i, "e": f"old{i}@example.com", "now": now})
            conn.execute(sa.text(
                "INSERT INTO mail_outbox (id, subscription, kind, digest_key, recipient, message_id, raw,"
                " status, attempts, next_attempt_at, created_at)"
                " VALUES (:i, :i, 'digest', '2026-11-20', :e, :m, :raw, :status, 0, :now, :now)"),
                {"i": i, "e": f"old{i}@example.com", "m": f"<m{i}@example.org>", "status": status, "now": now,
                 "raw": BODY % (f"old{i}@example.com".encode(), i)})
            conn.execute(sa.text("INSERT INTO mail_sent_papers (subscription, paper_id, outbox) "
                                 "VALUES (:i, :p, :i)"), {"i": i, "p": f"2611.0000{i}"})


def test_migration_0007_keeps_unsent_messages_and_the_sent_log(empty_db_url: str, settings: Settings,
                                                                smtp: SmtpServer) -> None:
    eng = create_engine(empty_db_url)
    _outbox_at_0006(eng)
    upgrade(eng)
    assert current_revision(eng) == head_revision()
    with eng.connect() as conn:
        statuses = dict(conn.execute(sa.select(mail_outbox.c.id, mail_outbox.c.status)).all())
        bodies = dict(conn.execute(sa.select(mail_outbox_bodies.c.outbox, mail_outbox_bodies.c.raw)).all())
        columns = {c["name"] for c in sa.inspect(conn).get_columns("mail_outbox")}
    assert statuses == {1: "sent", 2: "queued", 3: "failed"}
    assert set(bodies) == {2, 3}, "only unsent messages keep a body"
    assert bytes(bodies[2]) == BODY % (b"old2@example.com", 2)
    assert "raw" not in columns
    # Rebuilding the outbox table must not have cascaded into the log of papers sent.
    assert sent_paper_ids(eng, [1, 2, 3]) == {1: {"2611.00001"}, 2: {"2611.00002"}, 3: {"2611.00003"}}

    cfg = configured(settings, smtp.port)
    with sender_lock(cfg), SmtpTransport(SmtpConfig.from_settings(cfg)) as transport:
        report = Deliverer(eng, transport, clock=lambda: datetime.now(UTC) + timedelta(days=1)).deliver()
    assert report.sent == 1
    assert [(r.recipient, r.raw.replace(b"\r\n", b"\n")) for r in smtp.handler.received] == [
        ("old2@example.com", (BODY % (b"old2@example.com", 2)).replace(b"\r\n", b"\n"))]
    eng.dispose()


def test_migration_0007_downgrade_puts_unsent_bodies_back(empty_db_url: str) -> None:
    from alembic import command

    eng = create_engine(empty_db_url)
    _outbox_at_0006(eng)
    upgrade(eng)
    cfg = _alembic_config()
    with eng.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0006")
    with eng.connect() as conn:
        raw = {i: bytes(r) for i, r in conn.execute(sa.text("SELECT id, raw FROM mail_outbox"))}
        tables = set(sa.inspect(conn).get_table_names())
    assert raw == {1: b"", 2: BODY % (b"old2@example.com", 2), 3: BODY % (b"old3@example.com", 3)}
    assert "mail_outbox_bodies" not in tables
    eng.dispose()


def test_a_body_is_deleted_once_sent_and_kept_while_it_may_still_be_sent(
        engine: sa.Engine, settings: Settings, smtp: SmtpServer) -> None:
    load_papers(engine, TUESDAY.date() - timedelta(days=1))
    subscribe_many(engine, 4)
    smtp.handler.refuse = {"reader0@example.com": 550, "reader1@example.com": 451}
    report = run_cycle(engine, configured(settings, smtp.port), trending=trending_fetch(engine), now=TUESDAY)
    assert (report.delivery.sent, report.delivery.failed, report.delivery.retrying) == (2, 1, 1)
    with engine.connect() as conn:
        kept = conn.execute(sa.select(mail_outbox.c.recipient, mail_outbox.c.status)
                            .join(mail_outbox_bodies, mail_outbox_bodies.c.outbox == mail_outbox.c.id)).all()
    # The refused one waits for its retry, the bounced one stays inspectable; the two sent are gone.
    assert sorted(kept) == [("reader0@example.com", "failed"), ("reader1@example.com", "queued")]


def test_stored_digest_bodies_and_bodies_stored_by_hand_both_send(
        engine: sa.Engine, settings: Settings, smtp: SmtpServer) -> None:
    import email
    import email.policy

    from paperscope.store.mail_outbox import NewMessage, enqueue

    load_papers(engine, TUESDAY.date() - timedelta(days=1))
    subscribe_many(engine, 3)
    smtp.handler.refuse = {"reader0@example.com": 451}  # keeps its body for the retry
    cfg = configured(settings, smtp.port)
    run_cycle(engine, cfg, trending=trending_fetch(engine), now=TUESDAY)
    with engine.connect() as conn:
        (stored,) = conn.execute(sa.select(mail_outbox_bodies.c.raw)).scalars().all()
    raw = bytes(stored)  # the message exactly as it will be sent
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert parsed["To"] == "reader0@example.com" and parsed.get_body(("plain",)) is not None

    # One enqueued by hand (as confirmation mails are): it goes out byte for byte.
    plain = BODY % (b"reader2@example.com", 9)
    with engine.connect() as conn:
        sub = conn.execute(sa.text("SELECT id FROM subscriptions WHERE email = :e"),
                           {"e": "reader2@example.com"}).scalar_one()
    enqueue(engine, [NewMessage(sub, "digest", "old-edition", "reader2@example.com", "<m9@example.org>",
                                plain)])
    smtp.handler.refuse = {}
    with sender_lock(cfg), SmtpTransport(SmtpConfig.from_settings(cfg)) as transport:
        report = Deliverer(engine, transport, clock=lambda: datetime.now(UTC) + timedelta(days=1)).deliver()
    assert report.sent == 2
    assert plain.replace(b"\r\n", b"\n") in [r.raw.replace(b"\r\n", b"\n") for r in smtp.handler.received]
