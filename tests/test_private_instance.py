"""A lab's private instance: PAPERSCOPE_ACCESS=members over the whole route table, invitations (web and
CLI), sign-up by domain, email confirmation before an account can act, secret feed URLs."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.convertors import IntegerConvertor
from starlette.routing import compile_path
from typer.testing import CliRunner

from paperscope.cli import app as cli_app
from paperscope.settings import Settings
from paperscope.store import open_database
from paperscope.store import users as user_store
from paperscope.web.access import PUBLIC_ROUTES, served_routes
from paperscope.web.app import create_app
from paperscope.web.app_state import app_state
from tests.community_support import PASSWORD, Clock, add_user, make_app, page_csrf, sign_in
from tests.smtp_server import SmtpServer

PRIVATE: dict[str, Any] = {"access": "members", "signup": "invite"}


def _route_table() -> list[tuple[str, str]]:
    """Every (method, path template) the app serves, read from a throwaway app at collection time."""
    with tempfile.TemporaryDirectory() as home:
        app = create_app(Settings(home=Path(home), **PRIVATE), cache_seconds=0)
        table = sorted({(method, path) for path, methods in served_routes(app.routes) for method in methods})
        app_state(app).engine.dispose()
    return table


ROUTES = _route_table()


def _concrete(template: str) -> str:
    path = template
    for name, convertor in compile_path(template)[2].items():
        value = "1" if isinstance(convertor, IntegerConvertor) else "2503.10001"
        path = re.sub(r"\{" + name + r"(:[a-z]+)?\}", value, path)
    return path


@pytest.fixture(scope="module")
def private_app() -> Iterator[FastAPI]:
    with tempfile.TemporaryDirectory() as home:
        app = create_app(Settings(home=Path(home), **PRIVATE), cache_seconds=0)
        yield app
        app_state(app).engine.dispose()


@pytest.mark.parametrize(("method", "template"), ROUTES, ids=[f"{m} {p}" for m, p in ROUTES])
def test_members_only_every_route_refuses_anonymous(private_app: FastAPI, method: str, template: str) -> None:
    """Every route not on the public list answers an anonymous request with 303 to sign-in (pages) or
    401 (API): a route added later is private without anyone having to remember it."""
    if template in PUBLIC_ROUTES:
        pytest.skip("public by design (checked below)")
    client = TestClient(private_app)
    path = _concrete(template)
    r = client.request(method, path, follow_redirects=False)
    if path.startswith(("/api/", "/feeds/", "/openapi.json")):
        assert r.status_code == 401, (method, path, r.status_code)
        assert method == "HEAD" or "members only" in r.json()["error"]
    else:
        assert r.status_code == 303, (method, path, r.status_code)
        assert r.headers["location"].startswith("/signin?next=")
        twin = client.request(method, path + "?format=json", follow_redirects=False)
        assert twin.status_code == 401, (method, path)


def test_members_only_public_routes_are_exactly_these(private_app: FastAPI) -> None:
    served = {p for _, p in ROUTES}
    assert served >= PUBLIC_ROUTES
    client = TestClient(private_app)
    for template in PUBLIC_ROUTES:
        r = client.get(_concrete(template), follow_redirects=False)
        assert r.status_code not in (303, 401), template
    assert client.get("/static/style.css").status_code == 200
    # In invite mode even the sign-up form is closed to strangers.
    assert client.get("/signup", follow_redirects=False).status_code == 303
    assert client.get("/?date=2025-03-18", follow_redirects=False).headers["location"] == \
        "/signin?next=/%3Fdate%3D2025-03-18"


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


def _site(settings: Settings, smtp: SmtpServer, **extra: str) -> tuple[FastAPI, Clock]:
    cfg = settings.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": smtp.port,
                                      "base_url": "http://testserver", **extra})
    return make_app(cfg)


def _link(smtp: SmtpServer, recipient: str, pattern: str) -> str:
    body = smtp.handler.to(recipient)[-1].message.get_content()
    found = re.search(r"http://testserver(" + pattern + r"\S+)", body)
    assert found, body
    return found.group(1)


def test_invitation_single_use_expiring_and_members_read(settings: Settings, smtp: SmtpServer) -> None:
    app, clock = _site(settings, smtp, **PRIVATE)
    engine = app_state(app).engine
    add_user(engine, "root", role="admin")
    admin = TestClient(app)
    assert sign_in(admin, "root") == 303
    assert admin.get("/?date=2025-03-18").status_code == 200  # a member reads
    made = admin.post("/admin/invitations",
                      data={"csrf": page_csrf(admin, "/admin/invitations"), "days": "7"})
    assert made.status_code == 201
    shown = re.search(r'<code class="invitation">http://testserver(/invite/[^<]+)</code>', made.text)
    assert shown is not None
    link = shown.group(1)
    assert TestClient(app).get("/admin/invitations", follow_redirects=False).status_code == 303

    guest = TestClient(app)
    form = guest.get(link)
    assert form.status_code == 200
    bad = guest.post(link, data={"username": "ann", "email": "ann@example.org", "password": "short",
                                 "csrf": page_csrf(guest, link)})
    assert bad.status_code == 400  # refused: the invitation stays unspent
    ok = guest.post(link, data={"username": "ann", "email": "ann@example.org", "password": PASSWORD,
                                "csrf": page_csrf(guest, link)}, follow_redirects=False)
    assert ok.status_code == 303
    # Used once: a second person gets 410 and no account.
    other = TestClient(app)
    assert other.get(link).status_code == 410
    assert other.post(link, data={"username": "eve", "email": "eve@example.org", "password": PASSWORD,
                                  "csrf": page_csrf(other, "/signin")}).status_code == 410
    assert user_store.find_user(engine, "eve") is None
    # The link named no address, so ann confirms hers before reading or acting.
    assert guest.get("/?date=2025-03-18", follow_redirects=False).headers["location"] == "/account"
    assert guest.get("/api/daily_papers").status_code == 403
    guest.post("/account/verify", data={"csrf": page_csrf(guest)})
    assert guest.get(_link(smtp, "ann@example.org", "/verify-email/")).status_code == 200
    assert guest.get("/?date=2025-03-18").status_code == 200

    # An invitation for one address: mailed, confirmed on acceptance, and it expires.
    admin.post("/admin/invitations", data={"csrf": page_csrf(admin, "/admin/invitations"),
                                           "email": "bo@example.org", "days": "1"})
    mailed = _link(smtp, "bo@example.org", "/invite/")
    clock.advance(days=2)
    late = TestClient(app)
    assert late.get(mailed).status_code == 410
    r = late.post(mailed, data={"username": "bo", "email": "bo@example.org", "password": PASSWORD,
                                "csrf": page_csrf(late, "/signin")})
    assert r.status_code == 410 and user_store.find_user(engine, "bo") is None
    assert TestClient(app).get("/invite/not-a-real-token").status_code == 404
    app_state(app).engine.dispose()


def test_invitation_for_an_address_makes_a_confirmed_account(settings: Settings, smtp: SmtpServer) -> None:
    app, _ = _site(settings, smtp, **PRIVATE)
    add_user(app_state(app).engine, "root", role="admin")
    admin = TestClient(app)
    sign_in(admin, "root")
    admin.post("/admin/invitations", data={"csrf": page_csrf(admin, "/admin/invitations"),
                                           "email": "cy@example.org", "role": "moderator"})
    link = _link(smtp, "cy@example.org", "/invite/")
    guest = TestClient(app)
    wrong = guest.post(link, data={"username": "cyd", "email": "someone@example.org", "password": PASSWORD,
                                   "csrf": page_csrf(guest, link)})
    assert wrong.status_code == 403
    taken = guest.post(link, data={"username": "ROOT", "email": "cy@example.org", "password": PASSWORD,
                                   "csrf": page_csrf(guest, link)})
    assert taken.status_code == 409  # refused inside the transaction: the invitation is not spent
    guest.post(link, data={"username": "cyd", "email": "cy@example.org", "password": PASSWORD,
                           "csrf": page_csrf(guest, link)})
    me = guest.get("/api/v1/me").json()
    assert me["username"] == "cyd" and me["role"] == "moderator"
    assert guest.get("/api/daily_papers").status_code == 200
    app_state(app).engine.dispose()


def test_signup_by_domain_and_confirmation_before_acting(settings: Settings, smtp: SmtpServer) -> None:
    app, _ = _site(settings, smtp, signup="domains:example.edu, lab.org")
    c = TestClient(app)

    def signup(name: str, address: str) -> int:
        return c.post("/signup", data={"username": name, "email": address, "password": PASSWORD,
                                       "csrf": page_csrf(c, "/signup")}, follow_redirects=False).status_code

    assert signup("out", "out@example.com") == 403
    assert user_store.find_user(app_state(app).engine, "out") is None
    assert signup("ina", "ina@example.edu") == 303
    # Signed in but unconfirmed: may read (public instance), may not act.
    assert "Confirm your address" in c.get("/account").text
    vote = c.post("/papers/2503.40001/upvote", data={"csrf": page_csrf(c, "/papers/2503.40001")})
    assert vote.status_code == 403 and "confirm your email address" in vote.text
    assert c.get(_link(smtp, "ina@example.edu", "/verify-email/")).status_code == 200
    assert c.post("/papers/2503.40001/upvote", data={"csrf": page_csrf(c, "/papers/2503.40001")},
                  follow_redirects=False).status_code in (200, 303)
    assert c.get("/api/papers/2503.40001").json()["upvotes"] == 4
    assert TestClient(app).get("/verify-email/forged", follow_redirects=False).status_code == 400
    app_state(app).engine.dispose()


def test_secret_feed_urls(settings: Settings, smtp: SmtpServer) -> None:
    app, _ = _site(settings, smtp, **PRIVATE)
    add_user(app_state(app).engine, "ann")
    c = TestClient(app)
    sign_in(c, "ann")
    page = c.get("/account").text
    shown = re.search(r'<code class="feed-url">http://testserver(/feeds/u/[^<]+/daily.atom)</code>', page)
    assert shown is not None
    feed = shown.group(1)
    reader = TestClient(app)  # a feed reader: no cookie
    assert reader.get("/feeds/daily.atom").status_code == 401
    got = reader.get(feed)
    assert got.status_code == 200 and got.text.startswith("<?xml") and "<feed" in got.text
    forged = re.sub(r"\.[0-9a-f]{4}", ".0000", feed, count=1)
    assert reader.get(forged).status_code == 404
    c.post("/account/feeds/reset", data={"csrf": page_csrf(c)})
    assert reader.get(feed).status_code == 404  # revoked
    assert "/feeds/u/" in c.get("/account").text
    app_state(app).engine.dispose()


def test_cli_invite_and_verify(settings: Settings) -> None:
    base = ["--home", str(settings.home), "--database-url", settings.db_url]
    made = CliRunner().invoke(cli_app, [*base, "user", "invite", "--days", "3"])
    assert made.exit_code == 0, made.output
    assert re.fullmatch(r"http://127\.0\.0\.1:8000/invite/[\w-]{40,}\n", made.output)
    assert CliRunner().invoke(cli_app, [*base, "user", "invite", "--email", "nope"]).exit_code == 2
    engine = open_database(settings.db_url)
    user_store.create_user(engine, "dee", "dee@example.org", "x", verified=False)
    assert CliRunner().invoke(cli_app, [*base, "user", "verify", "dee"]).exit_code == 0
    found = user_store.find_user(engine, "dee")
    assert found is not None and found.verified
    engine.dispose()
