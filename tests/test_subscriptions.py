"""Subscribing (double opt-in), confirming and unsubscribing through the web app, on both backends."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from paperscope.mail.tokens import MailTokens, SubscriberRef
from paperscope.settings import Settings
from paperscope.store.mail_outbox import outbox_counts
from paperscope.store.schema import subscriptions
from paperscope.store.subscriptions import DigestChoice, add_subscriptions_bulk, find_subscription
from paperscope.web.app import create_app
from paperscope.web.app_state import app_state
from tests.smtp_server import SmtpServer

# The backend matters here (tests/conftest.py): every store-backed test runs on SQLite and PostgreSQL.
pytestmark = pytest.mark.both_backends


def status_of(engine: sa.Engine, address: str) -> str:
    sub = find_subscription(engine, address)
    assert sub is not None, f"no subscription for {address}"
    return sub.status

CONFIRM_LINK = re.compile(r"https://papers\.example\.org(/subscriptions/confirm/[\w.\-]+)")


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def web_settings(settings: Settings, smtp: SmtpServer) -> Settings:
    return settings.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": smtp.port,
                                       "base_url": "https://papers.example.org",
                                       "mail_from": "paperscope <digest@example.org>"})


@pytest.fixture
def client(web_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(web_settings)) as c:
        yield c


@pytest.fixture
def engine_of(client: TestClient) -> sa.Engine:
    engine: sa.Engine = app_state(client.app).engine
    return engine


def confirm_path(smtp: SmtpServer, address: str) -> str:
    mails = smtp.handler.to(address)
    assert len(mails) == 1, f"expected one confirmation mail to {address}, got {len(mails)}"
    body = mails[0].message.get_body(("plain",))
    assert body is not None
    found = CONFIRM_LINK.search(body.get_content())
    assert found, body.get_content()
    return found.group(1)


def test_api_subscription_needs_the_mailed_link_and_is_idempotent(
        client: TestClient, smtp: SmtpServer, engine_of: sa.Engine) -> None:
    body = {"email": "Ada@Example.COM", "frequency": "daily", "trending": True, "categories": ["cs.CL"],
            "searches": [{"query": "late interaction retrieval", "categories": ["cs.IR"]}]}
    r = client.post("/api/subscriptions", json=body)
    assert r.status_code == 202, r.text
    assert r.json()["status"] == "pending" and "link to confirm" in r.json()["message"]
    address = r.json()["email"]
    assert address.endswith("@example.com")
    path = confirm_path(smtp, address)

    page = client.get(path)  # a link scanner fetching the URL confirms nothing
    assert page.status_code == 200 and "Yes, confirm" in page.text
    assert status_of(engine_of, address) == "pending"
    done = client.post(path, headers={"accept": "application/json"})
    assert done.status_code == 200 and done.json()["status"] == "active"

    same = client.post("/api/subscriptions", json=body)
    assert same.status_code == 202 and same.json()["status"] == "pending"
    assert len(smtp.handler.to(address)) == 1, "repeating the request must not mail the address again"
    # A change waits for its own link; until then the digest stays as confirmed.
    again = client.post("/api/subscriptions", json={**body, "frequency": "weekly"})
    assert again.status_code == 202 and again.json()["status"] == "pending"
    assert find_subscription(engine_of, address).frequency == "daily"  # type: ignore[union-attr]
    with engine_of.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(subscriptions)).scalar_one() == 1
    mails = smtp.handler.to(address)
    assert len(mails) == 2
    link = CONFIRM_LINK.search(mails[1].message.get_body(("plain",)).get_content())  # type: ignore[union-attr]
    assert link is not None
    client.post(link.group(1))
    changed = find_subscription(engine_of, address)
    assert changed is not None and (changed.frequency, changed.status) == ("weekly", "active")


def test_invalid_requests_are_refused_with_a_clear_message(client: TestClient, engine_of: sa.Engine) -> None:
    # Malformed fields are refused by the documented schema (422 naming the field) ...
    r = client.post("/api/subscriptions", json={"email": "not-an-address", "trending": True})
    assert r.status_code == 422 and "email" in r.json()["error"]
    r = client.post("/api/subscriptions", json={"email": "bob@example.com", "categories": ["DROP TABLE"]})
    assert r.status_code == 422 and "categories" in r.json()["error"]
    r = client.post("/api/subscriptions", json={"email": "bob@example.com", "trending": True,
                                                "frequency": "hourly"})
    assert r.status_code == 422 and "frequency" in r.json()["error"]
    # ... and what a schema cannot say is a 400 in words.
    r = client.post("/api/subscriptions", json={"email": "bob@example.com"})
    assert r.status_code == 400 and "choose at least one" in r.json()["error"]
    with engine_of.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(subscriptions)).scalar_one() == 0


def test_form_needs_a_valid_csrf_token(client: TestClient, smtp: SmtpServer) -> None:
    form = client.get("/subscribe")
    assert form.status_code == 200
    token = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert token
    fields = {"email": "carol@example.org", "frequency": "weekly", "trending": "true",
              "searches": "protein folding\nquantum error correction\n"}
    forged = client.post("/subscribe", data={**fields, "csrf": "forged"})
    assert forged.status_code == 400 and "invalid form token" in forged.text
    bad = client.post("/subscribe", data={**fields, "email": "carol@", "csrf": token.group(1)})
    assert bad.status_code == 400 and "not a valid email address" in bad.text
    assert 'value="carol@"' in bad.text  # the form keeps what was typed
    ok = client.post("/subscribe", data={**fields, "csrf": token.group(1)})
    assert ok.status_code == 200 and "Check your inbox" in ok.text
    assert len(smtp.handler.to("carol@example.org")) == 1


def test_one_click_unsubscribe_without_signing_in(client: TestClient, web_settings: Settings,
                                                  engine_of: sa.Engine) -> None:
    add_subscriptions_bulk(engine_of, [("dan@example.com", "weekly", DigestChoice(trending=True))])
    sub = find_subscription(engine_of, "dan@example.com")
    assert sub is not None
    url = MailTokens(web_settings).unsubscribe_url(SubscriberRef(sub.id, sub.email))
    path = url.removeprefix("https://papers.example.org")
    page = client.get(path)
    assert page.status_code == 200 and "Unsubscribe" in page.text
    assert status_of(engine_of, "dan@example.com") == "active"
    # RFC 8058: the mail client POSTs this exact body, with no cookies and no CSRF token.
    r = client.post(path, content=b"List-Unsubscribe=One-Click",
                    headers={"content-type": "application/x-www-form-urlencoded"})
    assert r.status_code == 200 and "no more digests" in r.text
    assert status_of(engine_of, "dan@example.com") == "unsubscribed"
    assert client.post(path).status_code == 200  # twice is fine


def test_forged_expired_and_misused_tokens_are_refused(client: TestClient, web_settings: Settings,
                                                       engine_of: sa.Engine, smtp: SmtpServer,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    client.post("/api/subscriptions", json={"email": "eve@example.com", "trending": True})
    path = confirm_path(smtp, "eve@example.com")
    token = path.rsplit("/", 1)[1]
    assert client.post(f"/subscriptions/unsubscribe/{token}").status_code == 400  # wrong purpose
    assert client.post(path[:-3] + "abc").status_code == 400  # tampered
    # Eight days later the confirmation link has expired.
    real = time.time()
    monkeypatch.setattr("itsdangerous.timed.time.time", lambda: real + 8 * 24 * 3600)
    r = client.post(path, headers={"accept": "application/json"})
    assert r.status_code == 410 and "expired" in r.json()["error"]
    assert status_of(engine_of, "eve@example.com") == "pending"


def test_resubscribing_after_unsubscribing_asks_for_confirmation_again(
        client: TestClient, smtp: SmtpServer, engine_of: sa.Engine, web_settings: Settings) -> None:
    add_subscriptions_bulk(engine_of, [("fay@example.com", "weekly", DigestChoice(trending=True))])
    sub = find_subscription(engine_of, "fay@example.com")
    assert sub is not None
    unsub = MailTokens(web_settings).unsubscribe_url(SubscriberRef(sub.id, sub.email))
    client.post(unsub.removeprefix("https://papers.example.org"))
    r = client.post("/api/subscriptions", json={"email": "fay@example.com", "trending": True})
    assert r.json()["status"] == "pending"
    assert find_subscription(engine_of, "fay@example.com").status == "unsubscribed"  # type: ignore[union-attr]
    assert outbox_counts(engine_of) == {"sent": 1}
    client.post(confirm_path(smtp, "fay@example.com"))
    assert status_of(engine_of, "fay@example.com") == "active"


def test_serve_scheduler_sends_due_digests_when_enabled(settings: Settings, smtp: SmtpServer,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    from datetime import UTC, datetime, timedelta

    from paperscope.store import open_database
    from tests.mail_data import load_papers

    caplog.set_level(logging.INFO, logger="paperscope.digest")
    engine = open_database(settings.db_url)
    load_papers(engine, datetime.now(UTC).date() - timedelta(days=1))
    add_subscriptions_bulk(engine, [("hal@example.com", "weekly", DigestChoice(categories=("cs.CL",)))])
    cfg = settings.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": smtp.port,
                                      "digest_scheduler": True, "digest_interval_minutes": 0.01})

    def cycles() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.getMessage().startswith("digest cycle:")]

    app = create_app(cfg)
    scheduler = app_state(app).digest_scheduler
    with TestClient(app):
        assert scheduler is not None and scheduler.running
        deadline = time.monotonic() + 60
        # Two cycles after the one that sent: later cycles find the edition composed and send nothing more.
        while not (smtp.handler.received and len(cycles()) >= 3) and time.monotonic() < deadline:
            time.sleep(0.05)
    assert not scheduler.running  # the app's shutdown stopped it
    assert [r.recipient for r in smtp.handler.received] == ["hal@example.com"]
    assert cycles()[0] == "digest cycle: composed 1, sent 1, retrying 0, failed 0"
    assert set(cycles()[1:3]) == {"digest cycle: composed 0, sent 0, retrying 0, failed 0"}
    add_subscriptions_bulk(engine, [("ivy@example.com", "weekly", DigestChoice(categories=("cs.CL",)))])
    quiet = create_app(settings)
    with TestClient(quiet):  # off by default: no scheduler is started, nothing is composed for the newcomer
        assert app_state(quiet).digest_scheduler is None
    assert outbox_counts(engine) == {"sent": 1}
    engine.dispose()
