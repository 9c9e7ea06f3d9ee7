"""Digests reach a real SMTP server (aiosmtpd on 127.0.0.1) once each, through refusals, retries,
an unreachable server and a sender killed mid-batch."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from paperscope.cli.digest import trending_fetch
from paperscope.mail.outbox import Deliverer, RetryPolicy, sender_lock
from paperscope.mail.runner import run_cycle
from paperscope.mail.smtp import SmtpConfig, SmtpTransport
from paperscope.settings import Settings
from paperscope.store.mail_outbox import outbox_counts
from paperscope.store.schema import mail_outbox
from paperscope.store.subscriptions import (
    DigestChoice,
    add_subscriptions_bulk,
    find_subscription,
    sent_paper_ids,
)
from tests.mail_data import load_papers
from tests.pg import free_port
from tests.smtp_server import SmtpServer
from tests.support.mail_delivery import TUESDAY, configured, subscribe_many
from tests.support.text import body_part

# The backend matters here (tests/conftest.py): every store-backed test runs on SQLite and PostgreSQL.
pytestmark = pytest.mark.both_backends

PAPER_LINK = re.compile(r"/papers/(\d{4}\.\d{5})")


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


def papers_in(raw: bytes) -> list[str]:
    import email
    import email.policy
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    body = msg.get_body(("plain",))
    assert body is not None
    return list(dict.fromkeys(PAPER_LINK.findall(body.get_content())))


def test_every_subscriber_gets_one_digest_and_a_rerun_sends_nothing(
        engine: sa.Engine, settings: Settings, smtp: SmtpServer) -> None:
    load_papers(engine, TUESDAY.date() - timedelta(days=1))
    emails = subscribe_many(engine, 8)
    cfg = configured(settings, smtp.port)
    first = run_cycle(engine, cfg, trending=trending_fetch(engine), now=TUESDAY)
    assert (first.compose.composed, first.delivery.sent) == (8, 8)
    second = run_cycle(engine, cfg, trending=trending_fetch(engine), now=TUESDAY + timedelta(hours=3))
    assert (second.compose.composed, second.compose.already, second.delivery.sent) == (0, 8, 0)
    assert sorted(r.recipient for r in smtp.handler.received) == sorted(emails)
    got = smtp.handler.to("reader2@example.com")[0]
    assert all("protein folding" in body_part(got.message, "plain").get_content().lower()
               for _ in [0])
    assert got.sender == "digest@example.org"


def test_no_paper_is_sent_twice_across_digests(engine: sa.Engine, settings: Settings,
                                               smtp: SmtpServer) -> None:
    load_papers(engine, TUESDAY.date() - timedelta(days=1), per_topic=12)
    add_subscriptions_bulk(engine, [
        ("fan@example.com", "daily", DigestChoice(categories=("cs.LG",))),
        ("both@example.com", "daily", DigestChoice(trending=True, categories=("cs.LG",))),
    ], per_section=5)
    cfg = configured(settings, smtp.port)
    for day in range(4):  # Tuesday .. Friday over the same listings
        run_cycle(engine, cfg, trending=trending_fetch(engine), now=TUESDAY + timedelta(days=day))
    cs_lg = {f"2611.{n:05d}" for n in range(1, 13)}
    for reader in ("fan@example.com", "both@example.com"):
        seen = [p for received in smtp.handler.to(reader) for p in papers_in(received.raw)]
        assert len(seen) == len(set(seen)), f"a paper reached {reader} twice"
        assert cs_lg <= set(seen)
    # 12 cs.LG papers, 5 per digest: 5 + 5 + 2, then nothing new and so no mail on Friday.
    assert [len(papers_in(r.raw)) for r in smtp.handler.to("fan@example.com")] == [5, 5, 2]


def test_refused_recipients_fail_or_back_off_and_deliver_later(
        engine: sa.Engine, settings: Settings, smtp: SmtpServer) -> None:
    load_papers(engine, TUESDAY.date() - timedelta(days=1))
    subscribe_many(engine, 3)
    smtp.handler.refuse = {"reader0@example.com": 550, "reader1@example.com": 451}
    cfg = configured(settings, smtp.port)
    policy = RetryPolicy(base_delay=timedelta(minutes=10), max_delay=timedelta(minutes=15), max_attempts=4)
    report = run_cycle(engine, cfg, trending=trending_fetch(engine), now=TUESDAY, policy=policy)
    assert (report.delivery.sent, report.delivery.failed, report.delivery.retrying) == (1, 1, 1)
    bounced = find_subscription(engine, "reader0@example.com")
    assert bounced is not None
    assert sent_paper_ids(engine, [bounced.id])[bounced.id] == set(), "a bounced digest's papers stay unsent"

    with engine.connect() as conn:
        row = conn.execute(sa.select(mail_outbox).where(mail_outbox.c.recipient == "reader1@example.com")
                           ).mappings().one()
    assert (row["status"], row["attempts"]) == ("queued", 1)

    def deliver_at(when: datetime) -> tuple[int, int]:
        with sender_lock(cfg), SmtpTransport(SmtpConfig.from_settings(cfg)) as transport:
            rep = Deliverer(engine, transport, policy, clock=lambda: when).deliver()
        return rep.sent, rep.retrying

    now = datetime.now(UTC)
    assert deliver_at(now) == (0, 0), "not due before its back-off delay"
    assert deliver_at(now + timedelta(minutes=11)) == (0, 1)  # second attempt, still refused
    smtp.handler.refuse = {"reader0@example.com": 550}
    assert deliver_at(now + timedelta(minutes=11 + 16)) == (1, 0)  # delay capped at 15 minutes
    assert deliver_at(now + timedelta(days=1)) == (0, 0)
    assert len(smtp.handler.to("reader1@example.com")) == 1
    assert smtp.handler.to("reader0@example.com") == []


def test_temporary_refusals_give_up_after_max_attempts(
        engine: sa.Engine, settings: Settings, smtp: SmtpServer) -> None:
    load_papers(engine, TUESDAY.date() - timedelta(days=1))
    subscribe_many(engine, 1)
    smtp.handler.refuse = {"reader0@example.com": 451}
    cfg = configured(settings, smtp.port)
    policy = RetryPolicy(base_delay=timedelta(0), max_attempts=3)
    report = run_cycle(engine, cfg, trending=trending_fetch(engine), now=TUESDAY, policy=policy)
    # With no delay the same run retries at once until the attempts run out.
    assert (report.delivery.sent, report.delivery.retrying, report.delivery.failed) == (0, 2, 1)
    assert outbox_counts(engine) == {"failed": 1}


def test_unreachable_server_keeps_everything_queued(engine: sa.Engine, settings: Settings,
                                                    smtp: SmtpServer) -> None:
    load_papers(engine, TUESDAY.date() - timedelta(days=1))
    emails = subscribe_many(engine, 4)
    down = configured(settings, free_port())
    report = run_cycle(engine, down, trending=trending_fetch(engine), now=TUESDAY,
                       policy=RetryPolicy(base_delay=timedelta(0)))
    assert report.delivery.stopped and report.delivery.sent == 0
    assert outbox_counts(engine) == {"queued": 4}
    later = run_cycle(engine, configured(settings, smtp.port), trending=trending_fetch(engine), now=TUESDAY)
    assert later.delivery.sent == 4
    assert sorted(r.recipient for r in smtp.handler.received) == sorted(emails)


def test_transport_delivers_bodies_byte_for_byte_and_refuses_bad_recipients(
        settings: Settings, smtp: SmtpServer) -> None:
    from paperscope.mail.smtp import SendFailure

    cfg = SmtpConfig.from_settings(configured(settings, smtp.port))
    dotted = (b"Subject: dots\r\n\r\n.leading dot\r\n..two dots\r\nmiddle . dot\r\n.\r\n"
              b"a lone dot above\r\n")
    eight_bit = "Subject: caf\u00e9\r\n\r\nna\u00efve body\r\n".encode()
    with SmtpTransport(cfg) as transport:
        transport.send("dots@example.com", dotted)
        transport.send("utf8@example.com", eight_bit)
        with pytest.raises(SendFailure) as refused:
            transport.send("evil@example.com>\r\nRCPT TO:<victim@example.com", b"Subject: x\r\n\r\nx\r\n")
        assert refused.value.permanent
        transport.send("after@example.com", dotted)  # the session is still usable
    got = {r.recipient: r.raw for r in smtp.handler.received}
    assert list(got) == ["dots@example.com", "utf8@example.com", "after@example.com"]
    assert got["dots@example.com"] == dotted and got["after@example.com"] == dotted
    assert got["utf8@example.com"] == eight_bit


def test_data_refused_after_the_transmitting_mark_is_retried_not_left_in_doubt(
        engine: sa.Engine, settings: Settings, smtp: SmtpServer) -> None:
    """The transmitting mark is committed while the server answers DATA; a refusal there must still
    end as an ordinary retry (it never reached the server), not as `uncertain`."""
    from paperscope.mail.runner import digest_composer
    from paperscope.mail.smtp import SendFailure
    from paperscope.store.mail_outbox import recover_orphans

    class RefusesData(SmtpTransport):
        def send(self, recipient: str, raw: bytes, before_body: Callable[[], None] | None = None) -> None:
            if recipient != "reader0@example.com":
                return super().send(recipient, raw, before_body)
            if before_body is not None:
                before_body()  # as the real transport does, between sending DATA and reading its reply
            raise SendFailure("DATA refused: 451 try again later", permanent=False, code=451)

    load_papers(engine, TUESDAY.date() - timedelta(days=1))
    subscribe_many(engine, 3)
    cfg = configured(settings, smtp.port)
    digest_composer(engine, cfg, trending_fetch(engine)).compose_due(TUESDAY)
    with sender_lock(cfg), RefusesData(SmtpConfig.from_settings(cfg)) as transport:
        report = Deliverer(engine, transport).deliver()
    assert (report.sent, report.retrying, report.failed) == (2, 1, 0)
    assert outbox_counts(engine) == {"sent": 2, "queued": 1}
    assert recover_orphans(engine) == (0, 0)


def test_digests_stored_just_as_composing_ends_are_sent_in_the_same_run(
        engine: sa.Engine, settings: Settings, smtp: SmtpServer, monkeypatch: pytest.MonkeyPatch) -> None:
    # Sending runs alongside composing. The composer stores its last digests and then says it is done;
    # here both happen while a sender is finding the queue empty (it once stopped on that "done",
    # leaving the digests for the next run: seen under load in the full suite).
    import threading

    from paperscope.mail import outbox
    from paperscope.mail.runner import digest_composer

    load_papers(engine, TUESDAY.date() - timedelta(days=1))
    emails = subscribe_many(engine, 3)
    cfg = configured(settings, smtp.port)
    composed = threading.Event()
    real_claim = outbox.claim_due

    def claim_as_composing_ends(*args: object, **kwargs: object) -> object:
        batch = real_claim(*args, **kwargs)  # type: ignore[arg-type]
        if not composed.is_set():
            digest_composer(engine, cfg, trending_fetch(engine)).compose_due(TUESDAY)
            composed.set()
        return batch

    monkeypatch.setattr(outbox, "claim_due", claim_as_composing_ends)
    with sender_lock(cfg), SmtpTransport(SmtpConfig.from_settings(cfg)) as transport:
        report = Deliverer(engine, transport).deliver(compose_done=composed)
    assert report.sent == 3
    assert sorted(r.recipient for r in smtp.handler.received) == sorted(emails)


# -- the sender process killed mid-batch ------------------------------------------------------------------

def _run_cli(settings: Settings, db_url: str, port: int, connections: int = 1) -> subprocess.Popen[bytes]:
    env = dict(os.environ, PAPERSCOPE_HOME=str(settings.home), PAPERSCOPE_DATABASE_URL=db_url,
               PAPERSCOPE_SMTP_HOST="127.0.0.1", PAPERSCOPE_SMTP_PORT=str(port),
               PAPERSCOPE_MAIL_FROM="paperscope <digest@example.org>",
               PAPERSCOPE_SMTP_CONNECTIONS=str(connections))
    return subprocess.Popen([sys.executable, "-m", "paperscope", "digest", "run"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _killed_then_rerun(engine: sa.Engine, settings: Settings, db_url: str, smtp: SmtpServer,
                       hook: str, connections: int = 1) -> str:
    """Kill `digest run` at the 4th MAIL or right after the 4th accepted DATA; re-run; return output."""
    today = datetime.now(UTC).date()
    load_papers(engine, today - timedelta(days=1))
    emails = subscribe_many(engine, 8, frequency="weekly")  # weekly editions are due on any day
    proc = _run_cli(settings, db_url, smtp.port, connections)

    def kill_at(n: int) -> None:
        if n == 4:
            os.kill(proc.pid, signal.SIGKILL)

    setattr(smtp.handler, hook, kill_at)
    killed_output = proc.communicate(timeout=120)[0].decode()  # reads and closes the pipe
    assert proc.returncode == -signal.SIGKILL, killed_output
    setattr(smtp.handler, hook, None)
    assert len(smtp.handler.received) < 8, "the kill came too late to interrupt the batch"
    rerun = _run_cli(settings, db_url, smtp.port, connections)
    output = rerun.communicate(timeout=120)[0].decode()
    assert rerun.returncode == 0, output
    got = sorted(r.recipient for r in smtp.handler.received)
    assert got == sorted(emails), f"each subscriber must get exactly one digest\n{output}"
    return output


@pytest.mark.slow
def test_sender_killed_between_messages_resumes_without_loss_or_duplicates(
        engine: sa.Engine, settings: Settings, db_url: str, smtp: SmtpServer) -> None:
    output = _killed_then_rerun(engine, settings, db_url, smtp, "on_mail")
    # Messages 4-8 were claimed but never started: re-queued. Message 3 had its 250 reply but the
    # sender records that with the next message's marker, which never came: in doubt, not re-sent.
    assert "recovered from an earlier crash 5 (+1 possibly delivered, not re-sent)" in output
    assert outbox_counts(engine) == {"sent": 7, "uncertain": 1}


@pytest.mark.slow
def test_sender_killed_with_two_connections_still_delivers_exactly_once(
        engine: sa.Engine, settings: Settings, db_url: str, smtp: SmtpServer) -> None:
    output = _killed_then_rerun(engine, settings, db_url, smtp, "on_mail", connections=2)
    counts = outbox_counts(engine)
    assert counts.get("uncertain", 0) <= 2, "at most one message in doubt per connection"
    assert counts["sent"] + counts.get("uncertain", 0) == 8, output


@pytest.mark.slow
def test_sender_killed_while_a_message_is_in_flight_does_not_resend_it(
        engine: sa.Engine, settings: Settings, db_url: str, smtp: SmtpServer) -> None:
    output = _killed_then_rerun(engine, settings, db_url, smtp, "on_data")
    assert "recovered from an earlier crash 4 (+1 possibly delivered, not re-sent)" in output
    assert outbox_counts(engine) == {"sent": 7, "uncertain": 1}


def test_dry_run_writes_eml_files_and_sends_nothing(
        engine: sa.Engine, settings: Settings, db_url: str, smtp: SmtpServer, tmp_path: Path) -> None:
    load_papers(engine, date.today() - timedelta(days=1))
    subscribe_many(engine, 3, frequency="weekly")
    env = dict(os.environ, PAPERSCOPE_HOME=str(settings.home), PAPERSCOPE_DATABASE_URL=db_url,
               PAPERSCOPE_SMTP_PORT=str(smtp.port))
    cmd = [sys.executable, "-m", "paperscope", "digest", "run", "--dry-run", str(tmp_path / "eml")]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "wrote 3 message(s)" in out.stdout
    assert len(list((tmp_path / "eml").glob("*.eml"))) == 3
    assert smtp.handler.received == [] and outbox_counts(engine) == {}


def test_a_server_without_8bitmime_gets_the_digest_in_7bit(engine: sa.Engine, settings: Settings) -> None:
    import email
    import email.policy

    server = SmtpServer(decode_data=True).start()  # aiosmtpd then does not announce 8BITMIME
    try:
        load_papers(engine, TUESDAY.date() - timedelta(days=1))
        subscribe_many(engine, 1)
        report = run_cycle(engine, configured(settings, server.port), trending=trending_fetch(engine),
                           now=TUESDAY)
    finally:
        server.stop()
    assert report.delivery.sent == 1
    (received,) = server.handler.received
    assert received.raw.isascii()
    parsed = email.message_from_bytes(received.raw, policy=email.policy.default)
    text = parsed.get_body(("plain",))
    assert text is not None and text["Content-Transfer-Encoding"] == "base64"
    assert "\u2026" in text.get_content() and len(papers_in(received.raw)) == 5
