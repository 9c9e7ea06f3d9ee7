"""Account hardening (issue 15, on both backends): lock-outs that cannot be used against the owner,
locks that do not link a name to its address, sign-up answers that say less, password resets that
revoke API tokens, case-insensitive uniqueness of names, and X-Forwarded-For believed only from
configured proxies."""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Iterator

import httpx
import pytest
import sqlalchemy as sa
import uvicorn
from alembic import command
from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.testclient import TestClient

from paperscope.cli.web import uvicorn_options
from paperscope.settings import Settings
from paperscope.store import db as store_db
from paperscope.store import users as user_store
from paperscope.store.schema import users
from paperscope.web import passwords
from paperscope.web.app_state import app_state
from paperscope.web.passwords import password_hasher
from paperscope.web.security import AuthLimits
from tests.community_support import PASSWORD, Clock, add_user, make_app, page_csrf
from tests.smtp_server import SmtpServer
from tests.support.web_data import free_port

# The backend matters here (tests/conftest.py): every store-backed test runs on SQLite and PostgreSQL.
pytestmark = pytest.mark.both_backends

ATTACKER = ("203.0.113.9", 40000)
OWNER = ("198.51.100.7", 50000)


@pytest.fixture
def site(settings: Settings) -> Iterator[tuple[FastAPI, Clock]]:
    app, clock = make_app(settings, with_library=False)
    yield app, clock
    app_state(app).engine.dispose()


def _sign_in(c: TestClient, login: str, password: str) -> int:
    r = c.post("/signin", data={"login": login, "password": password, "csrf": page_csrf(c, "/signin")},
               follow_redirects=False)
    return r.status_code


def _fail_until_locked(c: TestClient, clock: Clock, login: str) -> None:
    for i in range(10):
        assert _sign_in(c, login, f"guess {i}") == 401
        clock.advance(seconds=61)  # patient: never waits for the slow-down
    assert _sign_in(c, login, PASSWORD) == 429


def test_an_attacker_cannot_lock_the_owner_out(site: tuple[FastAPI, Clock]) -> None:
    app, clock = site
    add_user(app_state(app).engine, "admin", role="admin")
    attacker = TestClient(app, client=ATTACKER)
    _fail_until_locked(attacker, clock, "admin")
    # The owner, from a client that has not failed, still gets in with the right password ...
    assert _sign_in(TestClient(app, client=OWNER), "admin", PASSWORD) == 303
    # ... while the attacker stays locked, and a new address of the attacker's gets one guess at most.
    assert _sign_in(attacker, "admin", PASSWORD) == 429
    helper = TestClient(app, client=("192.0.2.33", 1234))
    assert _sign_in(helper, "admin", "guess 11") == 401
    assert _sign_in(helper, "admin", PASSWORD) == 429


def test_locking_a_name_does_not_lock_its_address(site: tuple[FastAPI, Clock]) -> None:
    app, clock = site
    add_user(app_state(app).engine, "alice")
    attacker = TestClient(app, client=ATTACKER)
    _fail_until_locked(attacker, clock, "alice")
    # Whether an address belongs to the locked name cannot be read off the answers.
    assert _sign_in(attacker, "alice@example.org", "a guess") == 401
    assert _sign_in(attacker, "nobody@example.org", "a guess") == 401


def test_sign_up_with_a_taken_name_or_address_gets_the_same_plain_refusal(
        site: tuple[FastAPI, Clock]) -> None:
    app, _ = site
    add_user(app_state(app).engine, "alice")
    answers = []
    for name, address in (("ALICE", "fresh@example.org"), ("fresh", "Alice@Example.org")):
        c = TestClient(app)
        r = c.post("/signup", data={"username": name, "email": address, "password": PASSWORD,
                                    "csrf": page_csrf(c, "/signup")})
        error = re.search(r'class="form-error"[^>]*>(.*?)<', r.text, re.S)
        answers.append((r.status_code, error.group(1).strip() if error else r.text))
        assert address not in r.text  # the address typed is not echoed back
    assert answers[0] == answers[1]
    assert answers[0][0] == 400 and "registered" not in answers[0][1]


def test_password_reset_revokes_api_tokens(settings: Settings) -> None:
    smtp = SmtpServer().start()
    try:
        cfg = settings.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": smtp.port,
                                          "base_url": "http://testserver"})
        app, _ = make_app(cfg, with_library=False)
        add_user(app_state(app).engine, "bob")
        with TestClient(app) as c:
            assert _sign_in(c, "bob", PASSWORD) == 303
            page = c.post("/account/tokens", data={"name": "cron", "csrf": page_csrf(c)}).text
            token = re.search(r'<code class="token">(ps_[^<]+)</code>', page).group(1)  # type: ignore[union-attr]
            bearer = {"Authorization": f"Bearer {token}"}
            assert TestClient(app).get("/api/v1/me", headers=bearer).status_code == 200
            c.cookies.clear()
            c.post("/password-reset",
                   data={"email": "bob@example.org", "csrf": page_csrf(c, "/password-reset")})
            body = smtp.handler.received[0].message.get_content()
            link = re.search(r"http://testserver(/password-reset/\S+)", body).group(1)  # type: ignore[union-attr]
            r = c.post(link, data={"password": "a new long passphrase", "csrf": page_csrf(c, link)},
                       follow_redirects=False)
            assert r.status_code == 303
            assert TestClient(app).get("/api/v1/me", headers=bearer).status_code == 401
            assert "cron" not in c.get("/account").text
        app_state(app).engine.dispose()
    finally:
        smtp.stop()


# Password hashing ----------------------------------------------------------------------------------------

def test_passwords_are_hashed_with_owasp_parameters_and_old_hashes_upgrade_on_sign_in(
        settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    # The suite hashes with a cheap argon2id (conftest.py); this test runs the app with the real one.
    monkeypatch.setattr(passwords, "password_hasher", password_hasher)
    app, _ = make_app(settings, with_library=False)
    engine = app_state(app).engine
    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(PASSWORD)
    user = user_store.create_user(engine, "olde", "olde@example.org", weak)
    with TestClient(app) as c:
        assert _sign_in(c, "olde", "not it") == 401
        assert user_store.password_hash_of(engine, user.id) == weak  # a wrong password changes nothing
        assert _sign_in(c, "olde", PASSWORD) == 303
    upgraded = user_store.password_hash_of(engine, user.id)
    assert upgraded is not None and upgraded.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert password_hasher().verify(upgraded, PASSWORD)
    engine.dispose()


# Case-insensitive names ---------------------------------------------------------------------------------

def test_names_differing_only_in_case_cannot_both_exist(engine: sa.Engine) -> None:
    hashed = password_hasher().hash(PASSWORD)
    barrier = threading.Barrier(8)
    created: list[str] = []

    def sign_up(name: str) -> None:
        barrier.wait()
        with contextlib.suppress(user_store.UserExists):
            created.append(user_store.create_user(engine, name, f"{name}@example.org", hashed).username)

    threads = [threading.Thread(target=sign_up, args=(n,))
               for n in ("Racer0", "racer0", "RACER0", "rAcer0", "Racer0", "racer0", "raCer0", "RaCeR0")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(created) == 1
    # Even a write that skips the check is refused by the database itself.
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        conn.execute(users.insert().values(username=created[0].swapcase(), email="other@example.org",
                                           password_hash=hashed, role="user", status="active",
                                           created_at=sa.func.now()))
    found = user_store.find_user(engine, "RACER0")
    assert found is not None and found.username == created[0]


def test_the_migration_renames_existing_duplicates(empty_db_url: str) -> None:
    engine = store_db.create_engine(empty_db_url)
    cfg = store_db._alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0007")
    with engine.begin() as conn:
        for name, address in (("Racer0", "r@example.org"), ("racer0", "R@Example.org"), ("other", "o@x.org")):
            conn.execute(users.insert().values(username=name, email=address, password_hash="x", role="user",
                                               status="active", created_at=sa.func.now()))
    store_db.upgrade(engine)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(users.c.id, users.c.username, users.c.email).order_by(users.c.id)).all()
    assert [(r.username, r.email) for r in rows] == [
        ("Racer0", "r@example.org"), (f"racer0-{rows[1].id}", f"R@Example.org.duplicate-{rows[1].id}"),
        ("other", "o@x.org")]
    engine.dispose()


# Trusted proxies ----------------------------------------------------------------------------------------

def _serve(app: FastAPI, settings: Settings) -> tuple[uvicorn.Server, str]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           **uvicorn_options(settings)))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        assert thread.is_alive()
        threading.Event().wait(0.02)
    return server, f"http://127.0.0.1:{port}"


def _signups_with_rotating_forwarded_for(settings: Settings) -> list[int]:
    app, _ = make_app(settings, with_library=False)
    app_state(app).auth_limits = AuthLimits(hourly_per_ip=2)
    server, url = _serve(app, settings)
    statuses = []
    try:
        with httpx.Client(base_url=url) as c:
            for i in range(3):
                token = re.search(r'name="csrf" value="([^"]+)"', c.get("/signup").text).group(1)  # type: ignore[union-attr]
                r = c.post("/signup", headers={"X-Forwarded-For": f"10.9.8.{i}"},
                           data={"username": f"user{i}", "email": f"u{i}@example.org", "password": PASSWORD,
                                 "csrf": token})
                statuses.append(r.status_code)
                c.cookies.delete("ps_session")
    finally:
        server.should_exit = True
        app_state(app).engine.dispose()
    return statuses


def test_forwarded_for_is_ignored_unless_the_proxy_is_trusted(settings: Settings) -> None:
    # `paperscope serve`'s uvicorn options; by default no proxy is trusted, not even 127.0.0.1.
    assert _signups_with_rotating_forwarded_for(settings) == [303, 303, 429]


def test_forwarded_for_from_a_trusted_proxy_names_the_client(settings: Settings) -> None:
    trusting = settings.model_copy(update={"trusted_proxies": "127.0.0.1"})
    assert _signups_with_rotating_forwarded_for(trusting) == [303, 303, 303]
