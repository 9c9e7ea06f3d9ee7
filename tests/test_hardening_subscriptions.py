"""Digest subscriptions cannot be rewritten or enumerated by someone who knows an address, and the
confirmation mails they cause are capped (issue 15, both backends, through the web app and a real
SMTP server)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from paperscope.settings import Settings
from paperscope.store.subscriptions import (
    DigestChoice,
    SavedSearch,
    add_subscriptions_bulk,
    find_subscription,
)
from paperscope.web.app import create_app
from paperscope.web.app_state import app_state
from paperscope.web.security import AuthLimits
from tests.smtp_server import SmtpServer

# The backend matters here (tests/conftest.py): every store-backed test runs on SQLite and PostgreSQL.
pytestmark = pytest.mark.both_backends

CONFIRM_LINK = re.compile(r"https://papers\.example\.org(/subscriptions/confirm/[\w.\-]+)")
VICTIM = "victim@example.com"


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def client(settings: Settings, smtp: SmtpServer) -> Iterator[TestClient]:
    cfg = settings.model_copy(update={"smtp_port": smtp.port, "base_url": "https://papers.example.org"})
    with TestClient(create_app(cfg)) as c:
        yield c
    app_state(c.app).engine.dispose()


def _engine(client: TestClient) -> sa.Engine:
    engine: sa.Engine = app_state(client.app).engine
    return engine


def _links(smtp: SmtpServer, address: str) -> list[str]:
    out = []
    for mail in smtp.handler.to(address):
        found = CONFIRM_LINK.search(mail.message.get_body(("plain",)).get_content())  # type: ignore[union-attr]
        assert found
        out.append(found.group(1))
    return out


def test_nobody_rewrites_a_confirmed_subscription_by_knowing_the_address(
        client: TestClient, smtp: SmtpServer) -> None:
    engine = _engine(client)
    add_subscriptions_bulk(engine, [(VICTIM, "daily", DigestChoice(categories=("cs.CL",)))])
    hostile = {"email": VICTIM, "frequency": "weekly", "searches": [{"query": "buy cheap watches"}]}
    r = client.post("/api/subscriptions", json=hostile)
    assert r.status_code == 202 and r.json()["status"] == "pending"
    sub = find_subscription(engine, VICTIM)
    assert sub is not None and sub.status == "active"
    assert (sub.frequency, sub.choice) == ("daily", DigestChoice(categories=("cs.CL",)))
    # Only the owner's mailbox can apply it.
    [link] = _links(smtp, VICTIM)
    assert client.post(link).status_code == 200
    sub = find_subscription(engine, VICTIM)
    assert sub is not None and sub.choice.searches == (SavedSearch("buy cheap watches"),)


def test_every_address_gets_the_same_answer(client: TestClient) -> None:
    engine = _engine(client)
    add_subscriptions_bulk(engine, [("active@example.com", "weekly", DigestChoice(trending=True))])
    client.post("/api/subscriptions", json={"email": "pending@example.com", "trending": True})
    gone = "gone@example.com"
    add_subscriptions_bulk(engine, [(gone, "weekly", DigestChoice(trending=True))])
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE subscriptions SET status = 'unsubscribed' WHERE email = :e"),
                     {"e": gone})

    def answer(address: str) -> tuple[int, dict[str, Any]]:
        r = client.post("/api/subscriptions", json={"email": address, "trending": True})
        body = r.json()
        assert body.pop("email") == address
        return r.status_code, body

    answers = [answer(a) for a in ("new@example.com", "pending@example.com", "active@example.com", gone)]
    assert all(a == answers[0] for a in answers), answers
    assert answers[0][0] == 202


def test_a_link_applies_only_the_request_it_was_mailed_for(client: TestClient, smtp: SmtpServer) -> None:
    engine = _engine(client)
    add_subscriptions_bulk(engine, [(VICTIM, "daily", DigestChoice(trending=True))])
    client.post("/api/subscriptions", json={"email": VICTIM, "categories": ["cs.IR"]})
    client.post("/api/subscriptions", json={"email": VICTIM, "categories": ["hep-th"]})
    older, newer = _links(smtp, VICTIM)
    r = client.post(older, headers={"accept": "application/json"})
    assert r.status_code == 400 and "older request" in r.json()["error"]
    assert client.post(newer).status_code == 200
    sub = find_subscription(engine, VICTIM)
    assert sub is not None and sub.choice.categories == ("hep-th",)


def test_confirmation_mails_are_capped_per_address_and_per_ip(client: TestClient, smtp: SmtpServer) -> None:
    app_state(client.app).auth_limits = AuthLimits(subscribe_per_address=3, subscribe_per_ip=5)
    statuses = [client.post("/api/subscriptions",
                            json={"email": VICTIM, "categories": [f"cs.{c}"]}).status_code
                for c in ("CL", "IR", "LG", "AI")]
    assert statuses == [202, 202, 202, 429]
    assert len(smtp.handler.to(VICTIM)) == 3
    others = [client.post("/api/subscriptions", json={"email": f"x{i}@example.com", "trending": True})
              for i in range(3)]
    # Every request counts against the IP, refused ones too: the fifth in the hour is the last.
    assert [r.status_code for r in others] == [202, 429, 429]
    assert int(others[2].headers["retry-after"]) > 3000
    form = client.post("/subscribe", data={"email": "y@example.com", "trending": "true", "csrf": "x"})
    assert form.status_code in (400, 429)  # never a mail
    assert smtp.handler.to("y@example.com") == []
