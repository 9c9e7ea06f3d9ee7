"""Accounts through the web app (on SQLite; the account store runs on both backends in
test_community_store and test_hardening_accounts): sign up/in/out, cookies, API tokens, password reset by
mail through a real SMTP server, and the `paperscope user` commands."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner, Result

from paperscope.cli import app as cli_app
from paperscope.settings import Settings
from paperscope.store import open_database
from paperscope.store import users as user_store
from paperscope.web.app_state import app_state
from tests.community_support import PASSWORD, add_user, make_app, page_csrf, sign_in
from tests.smtp_server import SmtpServer
from tests.support.text import found


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    app, _ = make_app(settings, with_library=False)
    with TestClient(app) as c:
        yield c
    app_state(app).engine.dispose()


def _signup(client: TestClient, name: str = "alice", email: str = "alice@example.org",
            password: str = PASSWORD) -> int:
    token = page_csrf(client, "/signup")
    r = client.post("/signup", data={"username": name, "email": email, "password": password, "csrf": token},
                    follow_redirects=False)
    return r.status_code


def test_sign_up_sign_out_sign_in(client: TestClient) -> None:
    assert _signup(client) == 303
    me = client.get("/api/v1/me").json()
    assert me == {"username": "alice", "role": "user", "status": "active", "created_at": me["created_at"]}
    assert "alice" in client.get("/account").text
    client.post("/signout", data={"csrf": page_csrf(client)}, follow_redirects=False)
    assert client.get("/api/v1/me").status_code == 401
    assert client.get("/account", follow_redirects=False).headers["location"] == "/signin?next=/account"
    assert sign_in(client, "alice", "wrong password!") == 401
    assert sign_in(client, "Alice@Example.org") == 303  # the address works too, any case
    assert client.get("/api/v1/me").json()["username"] == "alice"


def test_sign_up_rejects_bad_input_and_taken_names(client: TestClient) -> None:
    assert _signup(client, password="short") == 400
    assert _signup(client, name="a b") == 400
    assert _signup(client, email="not-an-address") == 400
    assert _signup(client) == 303
    client.cookies.clear()
    assert _signup(client, name="ALICE", email="other@example.org") == 400


def test_session_cookie_flags(settings: Settings) -> None:
    secure = settings.model_copy(update={"base_url": "https://papers.example.org"})
    for cfg, https in ((settings, False), (secure, True)):
        app, _ = make_app(cfg, with_library=False)
        with TestClient(app, base_url="https://testserver" if https else "http://testserver") as c:
            token = page_csrf(c, "/signup")
            name = f"user{int(https)}"
            r = c.post("/signup", data={"username": name, "email": f"{name}@example.org",
                                        "password": PASSWORD, "csrf": token}, follow_redirects=False)
            cookie = r.headers["set-cookie"]
            assert "ps_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
            assert ("Secure" in cookie) is https
        app_state(app).engine.dispose()


def test_api_tokens_created_shown_once_used_and_revoked(client: TestClient) -> None:
    _signup(client)
    page = client.post("/account/tokens", data={"name": "my script", "csrf": page_csrf(client)}).text
    token = found(r'<code class="token">(ps_[^<]+)</code>', page)
    listing = client.get("/account").text
    assert "my script" in listing and token not in listing  # shown once, never again
    anonymous = TestClient(client.app)
    auth = {"Authorization": f"Bearer {token}"}
    assert anonymous.get("/api/v1/me", headers=auth).json()["username"] == "alice"
    assert anonymous.get("/api/v1/me", headers={"Authorization": "Bearer ps_forged"}).status_code == 401
    token_id = found(r'/account/tokens/(\d+)/revoke', listing)
    client.post(f"/account/tokens/{token_id}/revoke", data={"csrf": page_csrf(client)})
    assert anonymous.get("/api/v1/me", headers=auth).status_code == 401
    assert "my script" not in client.get("/account").text


def test_password_reset_by_mail(settings: Settings, smtp: SmtpServer) -> None:
    cfg = settings.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": smtp.port,
                                      "base_url": "http://testserver"})
    app, clock = make_app(cfg, with_library=False)
    with TestClient(app) as c:
        _signup(c)
        c.cookies.clear()
        # Unknown addresses get the same answer and no mail.
        for address in ("nobody@example.org", "alice@example.org"):
            r = c.post("/password-reset", data={"email": address, "csrf": page_csrf(c, "/password-reset")})
            assert r.status_code == 200 and "If an account uses that address" in r.text
        # (The first mail is the sign-up's address confirmation.)
        resets = [m for m in smtp.handler.received if "reset" in str(m.message["Subject"]).lower()]
        assert [m.recipient for m in resets] == ["alice@example.org"]
        body = resets[0].message.get_content()
        link = found(r"http://testserver(/password-reset/\S+)", body)
        form = c.get(link)
        assert form.status_code == 200 and "alice" in form.text
        new_password = "a brand new passphrase"
        r = c.post(link, data={"password": new_password, "csrf": page_csrf(c, link)}, follow_redirects=False)
        assert r.status_code == 303
        c.cookies.clear()
        assert sign_in(c, "alice", PASSWORD) == 401
        assert sign_in(c, "alice", new_password) == 303
        # The link worked once; it is now spent. A forged one never works.
        assert c.get(link).status_code == 400
        assert c.get("/password-reset/forged.token.value").status_code == 400
    app_state(app).engine.dispose()


def test_password_reset_link_expires_after_an_hour(settings: Settings, smtp: SmtpServer) -> None:
    cfg = settings.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": smtp.port,
                                      "base_url": "http://testserver"})
    app, clock = make_app(cfg, with_library=False)
    add_user(app_state(app).engine, "bob")
    with TestClient(app) as c:
        c.post("/password-reset", data={"email": "bob@example.org", "csrf": page_csrf(c, "/password-reset")})
        body = smtp.handler.received[0].message.get_content()
        link = found(r"http://testserver(/password-reset/\S+)", body)
        clock.advance(minutes=59)
        assert c.get(link).status_code == 200
        clock.advance(minutes=2)
        assert c.get(link).status_code == 410
        r = c.post(link, data={"password": "a brand new passphrase", "csrf": page_csrf(c, "/password-reset")})
        assert r.status_code == 410
    assert sign_in(TestClient(app), "bob") == 303  # the old password still works
    app_state(app).engine.dispose()


def _cli(settings: Settings, *args: str, stdin: str = "") -> Result:
    # In-process (typer's runner) rather than a subprocess per command: same code path, a fraction of
    # the start-up time.
    return CliRunner().invoke(cli_app, ["--home", str(settings.home), "--database-url", settings.db_url,
                                        *args], input=stdin)


def test_cli_add_promote_suspend(settings: Settings) -> None:
    added = _cli(settings, "user", "add", "root", "root@example.org", "--role", "admin", "--password-stdin",
                 stdin=PASSWORD + "\n")
    assert added.exit_code == 0, added.output
    assert _cli(settings, "user", "add", "carol", "carol@example.org", "--password-stdin",
                stdin=PASSWORD + "\n").exit_code == 0
    assert _cli(settings, "user", "add", "dave", "dave@example.org", "--password-stdin",
                stdin="short\n").exit_code == 2
    assert _cli(settings, "user", "promote", "carol", "--role", "moderator").exit_code == 0
    assert _cli(settings, "user", "suspend", "carol").exit_code == 0
    assert _cli(settings, "user", "promote", "nobody").exit_code == 1
    engine = open_database(settings.db_url)
    root, carol = user_store.find_user(engine, "root"), user_store.find_user(engine, "carol")
    assert root is not None and root.role == "admin"
    assert carol is not None and (carol.role, carol.status) == ("moderator", "suspended")
    engine.dispose()
    # The admin made on the command line signs in on the web; the suspended account cannot.
    app, _ = make_app(settings, with_library=False)
    with TestClient(app) as c:
        assert sign_in(c, "root") == 303
        c.cookies.clear()
        assert sign_in(c, "carol") == 403
    app_state(app).engine.dispose()
