"""Upvotes, submissions, comments and moderation through the web app and its JSON API (on SQLite;
the community store runs on both backends in test_community_store).

Counts everywhere are Hugging Face upvotes + local upvotes; arXiv metadata for submitted papers comes
from a real HTTP server on 127.0.0.1 serving a hand-written Atom response.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import feedparser
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from paperscope.feed.trending import add_event, community_score, trending_score
from paperscope.settings import Settings
from paperscope.store import users as user_store
from paperscope.store import votes as vote_store
from paperscope.web.app_state import app_state
from tests.community_support import Clock, add_user, make_app, page_csrf, sign_in
from tests.httpfixture import Reply, ScriptedServer, scripted_server
from tests.support.web_data import MON, THU, TUE


@pytest.fixture
def arxiv() -> Iterator[ScriptedServer]:
    with scripted_server() as server:
        yield server


@pytest.fixture
def site(settings: Settings, arxiv: ScriptedServer) -> Iterator[tuple[FastAPI, Clock]]:
    cfg = settings.model_copy(update={"arxiv_api_url": arxiv.url + "/api/query"})
    app, clock = make_app(cfg)
    yield app, clock
    app_state(app).engine.dispose()


def _bearer(app: FastAPI, name: str, role: str = "user") -> dict[str, str]:
    """An account with an API token, created the way the account page does it."""
    user = add_user(app_state(app).engine, name, role)
    token = f"ps_test-token-{name}"
    user_store.create_api_token(app_state(app).engine, user.id, "tests", token)
    return {"Authorization": f"Bearer {token}"}


def test_upvote_counts_add_to_hf_everywhere(site: tuple[FastAPI, Clock]) -> None:
    app, _ = site
    c = TestClient(app)
    add_user(app_state(app).engine, "alice")
    assert sign_in(c, "alice") == 303
    page = c.get("/papers/2503.40001").text
    assert re.search(r"▲</span> <span class=\"upvotes\">3</span>", page)  # 3 from Hugging Face
    c.post("/papers/2503.40001/upvote", data={"csrf": page_csrf(c, "/papers/2503.40001")})
    c.post("/papers/2503.40001/upvote", data={"csrf": page_csrf(c, "/papers/2503.40001")})  # no double vote
    anon = TestClient(app)
    paper = anon.get("/papers/2503.40001?format=json").json()
    assert (paper["upvotes"], paper["hf_upvotes"], paper["local_upvotes"]) == (4, 3, 1)
    feed = {p["id"]: p["upvotes"] for p in anon.get(f"/?date={THU}&format=json&limit=100").json()["papers"]}
    assert feed["2503.40001"] == 4
    assert anon.get("/api/papers/2503.40001").json()["upvotes"] == 4
    daily = {x["paper"]["id"]: x["paper"]["upvotes"]
             for x in anon.get(f"/api/daily_papers?date={THU}").json()}
    assert daily["2503.40001"] == 4
    entries = feedparser.parse(anon.get(f"/feeds/daily.atom?date={THU}").content).entries
    assert any("4 upvotes" in e.summary for e in entries if "2503.40001" in e.link)
    assert '<span class="upvotes">4</span> upvotes' in c.get("/papers/2503.40001").text
    assert "▲</span> 4 upvotes" in anon.get("/papers/2503.40001").text
    # Taking the vote back restores the Hugging Face count.
    c.post("/papers/2503.40001/unvote", data={"csrf": page_csrf(c, "/papers/2503.40001")})
    assert anon.get("/papers/2503.40001?format=json").json()["upvotes"] == 3


def test_local_votes_reorder_the_feed(site: tuple[FastAPI, Clock]) -> None:
    app, clock = site
    engine = app_state(app).engine
    rowid = vote_store.paper_rowid(engine, "2503.20001") or 0  # 5 HF upvotes, behind 2503.20002's 12
    for i in range(8):
        user = user_store.create_user(engine, f"voter{i}", f"voter{i}@example.org", "unused-hash")
        vote_store.upvote(engine, user.id, rowid, clock(), add_event)
    ranked = TestClient(app).get(f"/?date={TUE}&sort=upvotes&format=json").json()["papers"]
    assert [(p["id"], p["upvotes"]) for p in ranked] == [("2503.20001", 13), ("2503.20002", 12)]


def test_api_votes_one_per_account(site: tuple[FastAPI, Clock]) -> None:
    app, _ = site
    c = TestClient(app)
    alice, bob = _bearer(app, "alice"), _bearer(app, "bob")
    first = c.post("/api/v1/papers/2503.10002/upvote", headers=alice).json()
    again = c.post("/api/v1/papers/2503.10002/upvote", headers=alice).json()
    assert (first["changed"], first["upvotes"]) == (True, 1)
    assert (again["changed"], again["upvotes"]) == (False, 1)
    assert c.post("/api/v1/papers/2503.10002/upvote", headers=bob).json()["upvotes"] == 2
    assert c.delete("/api/v1/papers/2503.10002/upvote", headers=alice).json()["upvotes"] == 1
    assert c.post("/api/v1/papers/2503.10002/upvote").status_code == 401
    assert c.post("/api/v1/papers/9999.99999/upvote", headers=alice).status_code == 404


def test_trending_counts_local_votes_with_the_same_numbers_everywhere(site: tuple[FastAPI, Clock]) -> None:
    app, clock = site
    c = TestClient(app)
    alice = _bearer(app, "alice")
    c.post("/api/v1/papers/hep-th/9901001/upvote", headers=alice)  # no HF upvotes: local only
    data = c.get("/trending?format=json").json()
    scores = {p["id"]: p["trending_score"] for p in data["papers"]}
    as_of = data["as_of"]
    paper = c.get("/papers/hep-th/9901001?format=json").json()
    assert paper["upvotes"] == 1 and scores["hep-th/9901001"] > 0
    # Local term: one vote cast at clock() seen from as_of (end of Thursday), 24 h half-life.
    from datetime import datetime
    age_h = (datetime.fromisoformat(as_of) - clock()).total_seconds() / 3600
    assert scores["hep-th/9901001"] == pytest.approx(trending_score(1, 0) * 2 ** (-age_h / 24), rel=1e-4)
    assert scores["2503.10001"] == pytest.approx(trending_score(40, 87.0), rel=1e-4)  # HF-only unchanged
    entries = feedparser.parse(c.get("/feeds/trending.atom").content).entries
    note = next(e.summary for e in entries if "9901001" in e.link)
    assert f"trending score {scores['hep-th/9901001']:.4f}" in note
    html = c.get("/trending").text
    assert f"score {scores['hep-th/9901001']:.4f}" in html
    assert community_score(None, clock()) == 0.0


def test_submit_a_new_paper_fetched_from_arxiv(site: tuple[FastAPI, Clock], arxiv: ScriptedServer) -> None:
    app, clock = site
    c = TestClient(app)
    alice = _bearer(app, "alice")
    arxiv.play(Reply.fixture("arxiv_api/ids.xml"))
    r = c.post("/api/v1/submissions", json={"paper": "https://arxiv.org/abs/2405.19504v2"}, headers=alice)
    assert r.status_code == 201, r.text
    paper = r.json()
    assert (paper["id"], paper["listed"], paper["submitted_by"]) == ("2405.19504", "2025-03-20", "alice")
    assert paper["title"] == "Late Interaction Retrieval for Scientific Literature"
    assert arxiv.requests[0].params["id_list"] == "2405.19504"
    today = TestClient(app).get("/?format=json&limit=100").json()
    assert today["period"]["key"] == clock().date().isoformat()
    assert "2405.19504" in [p["id"] for p in today["papers"]]
    hf = {x["paper"]["id"]: x for x in c.get("/api/daily_papers").json()}
    assert hf["2405.19504"]["submittedBy"]["name"] == "alice"
    assert "Submitted to the daily feed by <b>alice</b>" in c.get("/papers/2405.19504").text
    # Listed once per day: a second submission the same day is refused (and asks arXiv nothing).
    again = c.post("/api/v1/submissions", json={"paper": "2405.19504"}, headers=_bearer(app, "bob"))
    assert again.status_code == 409 and len(arxiv.requests) == 1


def test_submit_known_paper_keeps_its_listing_date_without_fetching(site: tuple[FastAPI, Clock],
                                                               arxiv: ScriptedServer) -> None:
    app, _ = site
    c = TestClient(app)
    add_user(app_state(app).engine, "alice")
    sign_in(c, "alice")
    r = c.post("/submit", data={"paper": "arxiv:2503.10002", "csrf": page_csrf(c, "/submit")},
               follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/papers/2503.10002"
    assert arxiv.requests == []
    # Its first listing date stays (it was listed on Monday): Monday's feed still has it.
    assert c.get("/papers/2503.10002?format=json").json()["listed"] == MON.isoformat()
    assert "2503.10002" in [p["id"] for p in c.get("/?date=2025-03-17&format=json").json()["papers"]]
    assert "Submitted by <b>alice</b> on 2025-03-20" in c.get("/papers/2503.10002").text
    bad = c.post("/submit", data={"paper": "not an id", "csrf": page_csrf(c, "/submit")})
    assert bad.status_code == 400 and "not an arXiv id" in bad.text
    arxiv.play(Reply.fixture("arxiv_api/empty.xml"))
    missing = c.post("/submit", data={"paper": "2611.99999", "csrf": page_csrf(c, "/submit")})
    assert missing.status_code == 404


def test_comments_markdown_edit_window_and_moderation(site: tuple[FastAPI, Clock]) -> None:
    app, clock = site
    c = TestClient(app)
    alice, bob, mod = _bearer(app, "alice"), _bearer(app, "bob"), _bearer(app, "mo", "moderator")
    r = c.post("/api/v1/papers/2503.10001/comments", json={"body": "Nice **result**, see [code](https://x.org)"},
               headers=alice)
    assert r.status_code == 201
    comment = r.json()
    assert "<strong>result</strong>" in comment["html"]
    assert 'rel="nofollow noopener noreferrer"' in comment["html"]
    assert comment["author"] == "alice" and comment["can_edit"]
    hf = {x["paper"]["id"]: x["numComments"] for x in c.get("/api/daily_papers?date=2025-03-17").json()}
    assert hf == {"2503.10001": 1, "2503.10002": 0}
    cid = comment["id"]
    assert c.patch(f"/api/v1/comments/{cid}", json={"body": "hijack"}, headers=bob).status_code == 403
    clock.advance(minutes=10)
    edited = c.patch(f"/api/v1/comments/{cid}", json={"body": "Nice *result*"}, headers=alice)
    assert edited.status_code == 200
    clock.advance(minutes=6)
    assert c.patch(f"/api/v1/comments/{cid}", json={"body": "too late"}, headers=alice).status_code == 403
    listed = c.get("/api/v1/papers/2503.10001/comments").json()
    assert [(x["body"], x["edited_at"] is not None) for x in listed] == [("Nice *result*", True)]
    assert "<em>result</em>" in c.get("/papers/2503.10001").text
    assert c.delete(f"/api/v1/comments/{cid}", headers=bob).status_code == 403
    assert c.delete(f"/api/v1/comments/{cid}", headers=mod).status_code == 200
    assert c.get("/api/v1/papers/2503.10001/comments").json() == []


def test_moderators_hide_papers_and_suspend_users(site: tuple[FastAPI, Clock]) -> None:
    app, _ = site
    c = TestClient(app)
    alice, mod = _bearer(app, "alice"), _bearer(app, "mo", "moderator")
    assert c.post("/api/v1/moderation/papers/2503.40001/hide", json={"hidden": True},
                  headers=alice).status_code == 403
    assert c.post("/api/v1/moderation/papers/2503.40001/hide", json={"hidden": True},
                  headers=mod).json() == {"id": "2503.40001", "hidden": True}
    anon = TestClient(app)
    assert "2503.40001" not in [p["id"] for p in anon.get("/?format=json&limit=100").json()["papers"]]
    assert "2503.40001" not in [p["id"] for p in anon.get("/trending?format=json").json()["papers"]]
    assert anon.get("/papers/2503.40001").status_code == 404
    assert c.get("/papers/2503.40001?format=json", headers=mod).json()["hidden"] is True
    c.post("/api/v1/moderation/papers/2503.40001/hide", json={"hidden": False}, headers=mod)
    assert anon.get("/papers/2503.40001").status_code == 200
    # Suspension: the account's token stops working at once; a user cannot suspend anyone.
    assert c.post("/api/v1/moderation/users/mo/suspend", json={}, headers=alice).status_code == 403
    suspended = c.post("/api/v1/moderation/users/alice/suspend", json={}, headers=mod)
    assert suspended.json()["status"] == "suspended"
    assert c.get("/api/v1/me", headers=alice).status_code == 401
    assert c.post("/api/v1/moderation/users/alice/suspend", json={"suspended": False},
                  headers=mod).json()["status"] == "active"
    assert c.get("/api/v1/me", headers=alice).status_code == 200


def test_edit_window_shown_on_page_only_to_the_author(site: tuple[FastAPI, Clock]) -> None:
    app, clock = site
    engine = app_state(app).engine
    add_user(engine, "alice")
    add_user(engine, "bob")
    a, b = TestClient(app), TestClient(app)
    sign_in(a, "alice")
    sign_in(b, "bob")
    a.post("/papers/2503.10001/comments", data={"body": "mine", "csrf": page_csrf(a, "/papers/2503.10001")})
    assert "/edit" in a.get("/papers/2503.10001").text
    assert "/edit" not in b.get("/papers/2503.10001").text
    clock.advance(minutes=16)
    assert "/edit" not in a.get("/papers/2503.10001").text
    assert timedelta(minutes=16)  # the window is 15 minutes
