"""Security properties a user (or attacker) would notice, on SQLite and PostgreSQL: escaping of hostile
text, CSRF refusals that change nothing, sign-in throttling, session rotation and sign-out, permission
checks, and secrets that never reach logs or API responses."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from paperscope.model import Paper
from paperscope.settings import Settings
from paperscope.store import upsert_papers
from paperscope.store import users as user_store
from paperscope.web.app_state import app_state
from paperscope.web.security import SESSION_COOKIE, AuthLimits
from tests.community_support import PASSWORD, Clock, add_user, make_app, page_csrf, sign_in
from tests.support.text import found

# The store's SQL differs per backend here: every test runs on SQLite and on PostgreSQL.
pytestmark = pytest.mark.both_backends

SCRIPT = "<script>alert(1)</script>"
IMG = '<img src=x onerror="alert(2)">'


@pytest.fixture
def site(settings: Settings) -> Iterator[tuple[FastAPI, Clock]]:
    app, clock = make_app(settings)
    yield app, clock
    app_state(app).engine.dispose()


def _signed_in(app: FastAPI, name: str, role: str = "user") -> TestClient:
    add_user(app_state(app).engine, name, role)
    client = TestClient(app)
    assert sign_in(client, name) == 303
    return client


def test_hostile_text_comes_back_escaped(site: tuple[FastAPI, Clock]) -> None:
    app, clock = site
    upsert_papers(app_state(app).engine, [Paper(
        title=f"Hostile {IMG} title", abstract=f"Abstract with {SCRIPT} inside", authors=(f"Eve {SCRIPT}",),
        arxiv_id="2503.49999", categories=("cs.CR",), listed=clock().date(), source="test")])
    alice = _signed_in(app, "alice")
    alice.post("/papers/2503.49999/comments",
               data={"body": f"{SCRIPT} {IMG} [x](javascript:alert(3)) <a href='javascript:alert(4)'>y</a>",
                     "csrf": page_csrf(alice, "/papers/2503.49999")})
    anon = TestClient(app)
    pages = {
        "paper": anon.get("/papers/2503.49999").text,
        "feed": anon.get("/?limit=100").text,
        "trending": anon.get("/trending?limit=100").text,
        "library title": anon.get("/papers/2503.20001").text,  # the shared library's <script> title
        "search": anon.get("/search", params={"q": SCRIPT + IMG, "mode": "bm25"}).text,
        "signed-in paper": alice.get("/papers/2503.49999").text,
    }
    for where, html in pages.items():
        assert SCRIPT not in html and "<img src=x" not in html, where
        # javascript: may show as text, never as a link
        assert not re.search(r"<a\s[^>]*href=[\"']?javascript:", html, re.IGNORECASE), where
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in pages["paper"]
    assert "&lt;img src=x" in pages["paper"]


def test_form_posts_without_or_with_a_wrong_csrf_token_are_refused(site: tuple[FastAPI, Clock]) -> None:
    app, _ = site
    alice, bob = _signed_in(app, "alice"), _signed_in(app, "bob")
    bobs_token = page_csrf(bob, "/account")  # valid, but bound to Bob's session
    forged = {"none": None, "garbage": "not-a-token", "another visitor's": bobs_token}
    for label, token in forged.items():
        def post(path: str, token: str | None = token, **fields: str) -> int:
            data = {**fields, **({"csrf": token} if token else {})}
            return alice.post(path, data=data, follow_redirects=False).status_code
        assert post("/papers/2503.40001/upvote") == 403, label
        assert post("/papers/2503.40001/comments", body="hello") == 403, label
        assert post("/submit", paper="2503.10002") == 403, label
        assert post("/account/tokens", name="stolen") == 403, label
        assert post("/signout") == 403, label
    # Nothing changed: no vote, no comment, no submission, no token; Alice is still signed in.
    paper = alice.get("/papers/2503.40001?format=json").json()
    assert (paper["local_upvotes"], paper["discussion"]) == (0, [])
    assert alice.get("/papers/2503.10002?format=json").json()["submitted_by"] is None
    assert user_store.list_api_tokens(app_state(app).engine, 1) == []
    assert alice.get("/api/v1/me").status_code == 200
    # Anonymous forms too: sign-up and sign-in without a token.
    anon = TestClient(app)
    assert anon.post("/signup", data={"username": "mallory", "email": "m@example.org",
                                      "password": PASSWORD}).status_code == 403
    assert user_store.find_user(app_state(app).engine, "mallory") is None
    assert anon.post("/signin", data={"login": "alice", "password": PASSWORD}).status_code == 403
    # Cookie-authenticated JSON writes need the token as a header; bearer tokens do not.
    assert alice.post("/api/v1/papers/2503.40001/upvote").status_code == 403
    header = {"X-CSRF-Token": page_csrf(alice, "/account")}
    assert alice.post("/api/v1/papers/2503.40001/upvote", headers=header).status_code == 200


def test_brute_force_sign_in_is_slowed_then_blocked(site: tuple[FastAPI, Clock]) -> None:
    app, clock = site
    add_user(app_state(app).engine, "alice")
    c = TestClient(app)

    def attempt(password: str) -> tuple[int, int | None]:
        token = page_csrf(c, "/signin")
        r = c.post("/signin", data={"login": "alice", "password": password, "csrf": token},
                   follow_redirects=False)
        return r.status_code, int(r.headers["retry-after"]) if "retry-after" in r.headers else None

    assert [attempt(f"guess {i}")[0] for i in range(3)] == [401, 401, 401]
    # Slowed: the next try must wait, even with the right password.
    status, wait = attempt(PASSWORD)
    assert status == 429 and wait == 2
    clock.advance(seconds=2)
    assert attempt("guess 3")[0] == 401
    status, wait = attempt("guess 4")
    assert status == 429 and wait == 4  # the wait doubles
    # Keep guessing patiently until the account is locked.
    failures = 4
    while failures < 10:
        clock.advance(seconds=60)
        assert attempt(f"guess {failures}")[0] == 401
        failures += 1
    clock.advance(seconds=120)
    status, wait = attempt(PASSWORD)
    assert status == 429 and wait is not None and wait > 600  # blocked for the rest of the window
    clock.advance(minutes=15)
    assert attempt(PASSWORD)[0] == 303


def test_many_accounts_from_one_ip_and_mass_sign_ups_are_blocked(site: tuple[FastAPI, Clock]) -> None:
    app, _ = site
    app_state(app).auth_limits = AuthLimits(ip_block_after=5, hourly_per_ip=2)
    c = TestClient(app)
    for i in range(5):
        token = page_csrf(c, "/signin")
        r = c.post("/signin", data={"login": f"nobody{i}", "password": "x", "csrf": token})
        assert r.status_code == 401
    token = page_csrf(c, "/signin")
    r = c.post("/signin", data={"login": "someone-else", "password": "x", "csrf": token})
    assert r.status_code == 429
    codes = []
    for i in range(3):
        token = page_csrf(c, "/signup")
        codes.append(c.post("/signup", data={"username": f"bulk{i}", "email": f"bulk{i}@example.org",
                                             "password": PASSWORD, "csrf": token},
                            follow_redirects=False).status_code)
        c.cookies.delete(SESSION_COOKIE)
    assert codes == [303, 303, 429]


def test_session_id_rotates_at_sign_in_and_sign_out_invalidates_it(site: tuple[FastAPI, Clock]) -> None:
    app, _ = site
    add_user(app_state(app).engine, "alice")
    c = TestClient(app)
    # Session fixation attempt: a value the attacker planted before the victim signs in.
    c.cookies.set(SESSION_COOKIE, "attacker-chosen-value", domain="testserver.local")
    assert sign_in(c, "alice") == 303
    first = c.cookies.get(SESSION_COOKIE)
    assert first and first != "attacker-chosen-value"
    assert sign_in(c, "alice") == 303  # signing in again issues a new id and retires the old one
    second = c.cookies.get(SESSION_COOKIE)
    assert second and second != first
    replay = TestClient(app)
    replay.cookies.set(SESSION_COOKIE, first, domain="testserver.local")
    assert replay.get("/api/v1/me").status_code == 401
    replay.cookies.set(SESSION_COOKIE, second, domain="testserver.local")
    assert replay.get("/api/v1/me").status_code == 200
    c.post("/signout", data={"csrf": page_csrf(c, "/account")})
    assert c.get("/api/v1/me").status_code == 401
    assert replay.get("/api/v1/me").status_code == 401  # a copy of the cookie is worthless too


def test_users_cannot_double_vote_edit_others_or_moderate(site: tuple[FastAPI, Clock]) -> None:
    app, _ = site
    alice, bob = _signed_in(app, "alice"), _signed_in(app, "bob")
    for _ in range(2):
        alice.post("/papers/2503.10002/upvote", data={"csrf": page_csrf(alice, "/papers/2503.10002")})
    assert alice.get("/papers/2503.10002?format=json").json()["upvotes"] == 1
    alice.post("/papers/2503.10002/comments", data={"body": "mine", "csrf": page_csrf(alice, "/account")})
    cid = alice.get("/api/v1/papers/2503.10002/comments").json()[0]["id"]
    token = page_csrf(bob, "/account")
    assert bob.post(f"/comments/{cid}/edit", data={"body": "yours now", "csrf": token}).status_code == 403
    assert bob.post(f"/comments/{cid}/remove", data={"csrf": token}).status_code == 403
    assert bob.post("/moderation/papers/2503.10002/hide", data={"csrf": token}).status_code == 403
    assert bob.post("/moderation/users/alice/suspend", data={"csrf": token}).status_code == 403
    assert [x["body"] for x in alice.get("/api/v1/papers/2503.10002/comments").json()] == ["mine"]
    assert alice.get("/api/v1/me").status_code == 200
    # A moderator cannot suspend an admin; anonymous visitors cannot act at all.
    mod = _signed_in(app, "mo", "moderator")
    add_user(app_state(app).engine, "root", "admin")
    r = mod.post("/moderation/users/root/suspend", data={"csrf": page_csrf(mod, "/account")})
    assert r.status_code == 403
    assert TestClient(app).post("/papers/2503.10002/upvote", data={}).status_code == 401


def test_passwords_and_tokens_never_reach_logs_or_api_responses(site: tuple[FastAPI, Clock],
                                                                caplog: pytest.LogCaptureFixture) -> None:
    app, _ = site
    caplog.set_level(logging.DEBUG)
    secret_password = "hunter2-but-much-longer"
    c = TestClient(app)
    token = page_csrf(c, "/signup")
    c.post("/signup", data={"username": "alice", "email": "alice@example.org", "password": secret_password,
                            "csrf": token})
    page = c.post("/account/tokens", data={"name": "ci", "csrf": page_csrf(c, "/account")}).text
    api_token = found(r'<code class="token">(ps_[^<]+)</code>', page)
    c.post("/signout", data={"csrf": page_csrf(c, "/account")})
    sign_in(c, "alice", "wrong " + secret_password)
    sign_in(c, "alice", secret_password)
    auth = {"Authorization": f"Bearer {api_token}"}
    bot = TestClient(app)
    bodies = [bot.get("/api/v1/me", headers=auth).text,
              bot.post("/api/v1/papers/2503.10001/upvote", headers=auth).text,
              bot.post("/api/v1/papers/2503.10001/comments", json={"body": "hi"}, headers=auth).text,
              bot.get("/api/v1/papers/2503.10001/comments").text,
              bot.get("/papers/2503.10001?format=json", headers=auth).text,
              bot.get("/api/v1/me", headers={"Authorization": "Bearer ps_wrong"}).text]
    session = c.cookies.get(SESSION_COOKIE) or "unset"
    for text in [caplog.text, *bodies]:
        for secret in (secret_password, api_token, api_token[3:], session, "$argon2"):
            assert secret not in text
    assert "failed sign-in" in caplog.text  # the logs do record what happened
    assert datetime.now(UTC)  # (timestamps come from the app clock; nothing else to check)
