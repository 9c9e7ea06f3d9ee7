"""The personal digest: a "For you" section (the account's library and 👍/👎) in the digest of a
subscription linked to an account, managed on /account/digest, never repeating a paper already sent."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from paperscope.embed import Encoder
from paperscope.feed.foryou import digest_picks
from paperscope.mail.runner import digest_composer
from paperscope.search import SearchEngine
from paperscope.settings import Settings
from paperscope.store import library as lib
from paperscope.store.schema import mail_outbox, mail_outbox_bodies
from paperscope.store.subscriptions import DigestChoice, find_subscription, subscribe
from paperscope.web.app import create_app
from paperscope.web.app_state import app_state
from tests.community_support import add_user, page_csrf, sign_in
from tests.support.papers import rowid

# The backend matters here (tests/conftest.py): every store-backed test runs on SQLite and PostgreSQL.
pytestmark = pytest.mark.both_backends

THURSDAY = datetime(2025, 4, 10, 8, 0, tzinfo=UTC)


def _for_you_titles(engine: sa.Engine, recipient: str, key: str) -> list[str]:
    """The titles under "For you" in the stored digest `key` of `recipient`."""
    with engine.connect() as conn:
        raw = conn.execute(sa.select(mail_outbox_bodies.c.raw)
                           .join(mail_outbox, mail_outbox.c.id == mail_outbox_bodies.c.outbox)
                           .where(mail_outbox.c.recipient == recipient, mail_outbox.c.digest_key == key)
                           ).scalar_one()
    msg = email.message_from_bytes(bytes(raw), policy=email.policy.default)
    text = msg.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    section = text.split("For you", 1)[1] if "For you" in text else ""
    return [line[2:].strip() for line in section.splitlines() if line.startswith("* ")]


def test_for_you_section_from_the_account_page(indexed_search_engine: SearchEngine, settings: Settings,
                                               encoder: Encoder) -> None:
    engine = indexed_search_engine.engine
    reader = add_user(engine, "reader")
    lib.save_paper(engine, reader.id, rowid(engine, "2504.01001"))  # proteins
    lib.set_feedback(engine, reader.id, rowid(engine, "2504.01002"), 1)
    app = create_app(settings, cache_seconds=0)
    with TestClient(app) as c:
        assert sign_in(c, "reader") == 303
        assert c.get("/account/digest?format=json").json()["subscribed"] is False
        r = c.post("/account/digest", data={"frequency": "weekly", "for_you": "true",
                                            "csrf": page_csrf(c, "/account/digest")}, follow_redirects=False)
        assert r.status_code == 303
        mine = c.get("/account/digest?format=json").json()
        assert mine["subscribed"] and mine["status"] == "active" and mine["for_you"] is True
        assert 'href="/account/digest"' in c.get("/account").text
        bad = c.post("/account/digest", data={"frequency": "hourly", "for_you": "true",
                                              "csrf": page_csrf(c, "/account/digest")})
        assert bad.status_code == 400
    sub = find_subscription(engine, "reader@example.org")
    assert sub is not None and sub.user_id == reader.id and sub.choice.for_you
    # Someone subscribed without an account asks for "For you" too: there is nothing to base it on.
    subscribe(engine, "anon@example.org", "weekly", DigestChoice(for_you=True))
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE subscriptions SET status = 'active' WHERE email = 'anon@example.org'"))

    composer = digest_composer(engine, settings, None, for_you=digest_picks)
    first = composer.compose_due(THURSDAY)
    assert first.composed == 1 and first.empty == 1
    week1 = _for_you_titles(engine, "reader@example.org", "2025-W15")
    assert len(week1) == 5 and all("protein" in t.lower() for t in week1[:2])  # the liked topic first
    assert not {"Protein structure prediction with deep learning"} & set(week1)  # already in the library
    # Next week: the same papers are still the best matches, but none is sent again.
    second = digest_composer(engine, settings, None, for_you=digest_picks).compose_due(
        THURSDAY + timedelta(days=7))
    week2 = _for_you_titles(engine, "reader@example.org", "2025-W16") if second.composed else []
    assert second.composed == 1 and len(week2) == 5 and not set(week1) & set(week2)
    # Without the section (off), the same subscriber would get nothing at all.
    off = digest_composer(engine, settings, None).preview(sub, THURSDAY + timedelta(days=14))
    assert off is None
    app_state(app).engine.dispose()


def test_newton_step_through_small_systems_matches_the_dense_solve() -> None:
    """The IRLS step solved through n×n systems (few training papers) equals the (d+1)² solve."""
    import numpy as np

    from paperscope.feed.foryou import newton_step

    rng = np.random.default_rng(1)
    for n in (3, 40, 150, 200, 500):  # the last two take the dense path
        x = np.hstack([rng.normal(size=(n, 384)), np.ones((n, 1))])
        w = rng.random(n) * 0.01
        diag = np.full(385, 1.0 / n + 1e-9)
        diag[-1] = 1e-9
        grad = rng.normal(size=385)
        dense = np.linalg.solve((x * w[:, None]).T @ x + np.diag(diag), grad)
        assert np.allclose(newton_step(x, w, diag, grad), dense, rtol=1e-8, atol=1e-10 * np.abs(dense).max())
