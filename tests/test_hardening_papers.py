"""Paper-level hardening (issue 15, both backends): hidden papers are gone for everyone but moderators,
on every route and for every write; library tags that are not text are refused, and a library that
already holds one still reads."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient

from paperscope.settings import Settings
from paperscope.store import get_paper
from paperscope.store import users as user_store
from paperscope.store import votes as vote_store
from paperscope.web.app_state import app_state
from tests.community_support import Clock, add_user, make_app

# The backend matters here (tests/conftest.py): every store-backed test runs on SQLite and PostgreSQL.
pytestmark = pytest.mark.both_backends

HIDDEN = "2503.10001"


@pytest.fixture
def site(settings: Settings) -> Iterator[tuple[FastAPI, Clock]]:
    app, clock = make_app(settings)
    yield app, clock
    app_state(app).engine.dispose()


def _bearer(app: FastAPI, name: str, role: str = "user") -> dict[str, str]:
    user = add_user(app_state(app).engine, name, role)
    token = "ps_" + secrets.token_urlsafe(16)
    user_store.create_api_token(app_state(app).engine, user.id, "test", token)
    return {"Authorization": f"Bearer {token}"}


def test_hidden_papers_are_gone_for_everyone_but_moderators(site: tuple[FastAPI, Clock]) -> None:
    app, _ = site
    engine = app_state(app).engine
    user, moderator = _bearer(app, "ursula"), _bearer(app, "mona", "moderator")
    hidden = get_paper(engine, HIDDEN)
    assert hidden is not None and hidden.rowid is not None
    vote_store.set_hidden(engine, hidden.rowid, True)
    c = TestClient(app)
    reads = [f"/api/papers/{HIDDEN}", f"/api/papers/{HIDDEN}/similar", f"/api/similar?ids={HIDDEN}",
             f"/similar?ids={HIDDEN}", f"/similar?ids={HIDDEN},2503.10002&format=json",
             f"/api/v1/papers/{HIDDEN}/comments", f"/papers/{HIDDEN}?format=json"]
    for path in reads:
        assert c.get(path).status_code == 404, path
        assert c.get(path, headers=user).status_code == 404, path
    writes = [("POST", f"/api/v1/papers/{HIDDEN}/upvote", None),
              ("POST", f"/api/v1/papers/{HIDDEN}/comments", {"body": "still here?"}),
              ("PUT", f"/api/v1/library/{HIDDEN}", {"tags": ["x"]}),
              ("POST", f"/api/v1/papers/{HIDDEN}/feedback", {"value": 1}),
              ("POST", "/api/v1/submissions", {"paper": HIDDEN})]
    for method, path, body in writes:
        r = c.request(method, path, json=body, headers=user)
        assert r.status_code == 404, (path, r.status_code, r.text)
    paper = get_paper(engine, HIDDEN)
    assert paper is not None and paper.local_upvotes == 0
    # Moderators still see it (to show it again), and can act on it.
    assert c.get(f"/api/papers/{HIDDEN}", headers=moderator).status_code == 200
    assert c.get(f"/api/v1/papers/{HIDDEN}/comments", headers=moderator).status_code == 200


def test_a_saved_paper_hidden_later_leaves_the_library(site: tuple[FastAPI, Clock]) -> None:
    app, _ = site
    user = _bearer(app, "ursula")
    c = TestClient(app)
    assert c.put(f"/api/v1/library/{HIDDEN}", json={"tags": ["later"]}, headers=user).status_code == 200
    hidden = get_paper(app_state(app).engine, HIDDEN)
    assert hidden is not None and hidden.rowid is not None
    vote_store.set_hidden(app_state(app).engine, hidden.rowid, True)
    listed = c.get("/api/v1/library", headers=user).json()
    assert [p["id"] for p in listed["papers"]] == []


def test_tags_that_are_not_text_are_refused_and_the_library_still_reads(site: tuple[FastAPI, Clock]) -> None:
    app, _ = site
    engine: sa.Engine = app_state(app).engine
    user = _bearer(app, "ursula")
    c = TestClient(app)
    headers = {**user, "Content-Type": "application/json"}
    r = c.put(f"/api/v1/library/{HIDDEN}", content=b'{"tags": ["\\ud800"]}', headers=headers)
    assert r.status_code == 422 and "tags" in r.json()["error"]
    r = c.put(f"/api/v1/library/{HIDDEN}", content=b'{"tags": ["ok", "\\u0007bell"]}', headers=headers)
    assert r.status_code == 422
    assert c.get("/api/v1/library", headers=user).status_code == 200
    # A library that already holds such a tag (written by an older version) reads, without it.
    assert c.put(f"/api/v1/library/{HIDDEN}", json={"tags": ["ok"]}, headers=user).status_code == 200
    if engine.dialect.name == "sqlite":  # PostgreSQL's json type never accepted the write
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE library_items SET tags = :t"), {"t": '["ok", "\\ud800"]'})
    listed = c.get("/api/v1/library", headers=user)
    assert listed.status_code == 200 and listed.json()["papers"][0]["tags"] == ["ok"]
    session = TestClient(app)
    assert c.get("/library", headers=user).status_code == 200
    assert session.get("/library", follow_redirects=False).status_code in (303, 401)
