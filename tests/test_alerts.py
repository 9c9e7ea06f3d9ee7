"""Alerts: "Alert me" creates an account-owned alert; new papers reach it by email (mail outbox, real SMTP)
and by webhook (a real HTTP receiver on 127.0.0.1 that fails on purpose): back-off on failure, at most one
delivery per (alert, paper), and webhook URLs that are not http(s) or point at this server refused."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fastapi.testclient import TestClient

from paperscope.mail.alerts import run_alerts
from paperscope.mail.outbox import RetryPolicy
from paperscope.mail.runner import deliver_pending
from paperscope.mail.webhooks import deliver_webhooks
from paperscope.model import Paper
from paperscope.settings import Settings
from paperscope.store import alerts as alert_store
from paperscope.store import upsert_papers
from paperscope.store import users as user_store
from paperscope.web.app_state import app_state
from tests.community_support import add_user, make_app, page_csrf, sign_in
from tests.smtp_server import SmtpServer
from tests.support.web_data import free_port

# The backend matters here (tests/conftest.py): every store-backed test runs on SQLite and PostgreSQL.
pytestmark = pytest.mark.both_backends


@dataclass
class Receiver:
    """A webhook receiver: answers each POST with the next scripted status (200 when the script ends)."""

    statuses: list[int] = field(default_factory=list)
    bodies: list[dict[str, Any]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length", 0))
                receiver.bodies.append(json.loads(self.rfile.read(length)))
                receiver.paths.append(self.path)
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.httpd.shutdown()
    r.httpd.server_close()


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


def _new_paper(arxiv_id: str, title: str, authors: tuple[str, ...], cat: str = "cs.IR",
               abstract: str = "Sparse retrieval with inverse document frequency.") -> Paper:
    return Paper(title=title, arxiv_id=arxiv_id, abstract=abstract,
                 authors=authors, categories=(cat,), published=date(2025, 3, 21), listed=date(2025, 3, 21),
                 source="test")


def test_alert_me_and_refused_webhook_urls(settings: Settings) -> None:
    app, _ = make_app(settings.model_copy(update={"base_url": "https://papers.lab.example"}))
    add_user(app_state(app).engine, "alice")
    c = TestClient(app, base_url="https://testserver")  # cookies are Secure under an https base URL
    assert sign_in(c, "alice") == 303
    page = c.get("/authors/Sparck Jones").text
    assert 'action="/alerts"' in page and 'name="query" value="Sparck Jones"' in page
    assert 'action="/alerts"' in c.get("/search?q=retrieval&mode=bm25").text
    assert 'action="/alerts"' in c.get("/categories/cs.IR").text

    def make(**form: str) -> int:
        data = {"kind": "author", "query": "K. Sparck Jones", "email": "true", "csrf": page_csrf(c), **form}
        return c.post("/alerts", data=data, follow_redirects=False).status_code

    assert make() == 303
    for bad in ("ftp://hooks.example/x", "javascript:alert(1)", "http://127.0.0.1:8000/hook",
                "http://localhost/hook", "https://papers.lab.example/api/v1/me", "http://[::1]/x",
                "http://10.0.0.7/hook"):
        assert make(webhook_url=bad) == 400, bad
    assert make(query="x" * 10_000) == 422
    assert make(query="x" * 300) == 400
    assert make(kind="category", query="not a category!") == 400
    assert make(kind="planet") == 400
    listed = c.get("/account/alerts?format=json").json()["alerts"]
    assert [(a["kind"], a["query"], a["webhook_url"]) for a in listed] == [
        ("author", "K. Sparck Jones", None)]
    # An account that has not confirmed its address cannot set alerts up.
    user_store.create_user(app_state(app).engine, "newbie", "newbie@example.org", "x", verified=False)
    assert c.post("/api/v1/alerts", json={"kind": "author", "query": "Ada"}).status_code in (401, 403)
    app_state(app).engine.dispose()


def test_alerts_by_mail_and_webhook_with_backoff_at_most_once(settings: Settings, smtp: SmtpServer,
                                                              receiver: Receiver) -> None:
    cfg = settings.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": smtp.port,
                                      "webhook_allow_private": True, "base_url": "http://papers.test"})
    app, clock = make_app(cfg)
    engine = app_state(app).engine
    alice = add_user(engine, "alice")
    c = TestClient(app)
    sign_in(c, "alice")
    token = page_csrf(c, "/account/alerts")
    for form in ({"kind": "author", "query": "Spärck Jones", "email": "true",
                  "webhook_url": receiver.url("/slack"), "webhook_format": "slack"},
                 {"kind": "search", "query": "sparse retrieval", "webhook_url": receiver.url("/json"),
                  "webhook_format": "json"},
                 {"kind": "category", "query": "cs.IR", "email": "true"}):
        assert c.post("/alerts", data={**form, "csrf": token}, follow_redirects=False).status_code == 303
    author, search, category = alert_store.alerts_of(engine, alice.id)

    # Papers that were there before the alerts never trigger them; new ones do.
    upsert_papers(engine, [_new_paper("2503.50001", "Term Weighting Revisited", ("Karen Spärck Jones",)),
                           _new_paper("2503.50002", "Dense Only", ("Omar Khattab",), cat="cs.CL",
                                      abstract="Dense passage retrieval, nothing else.")])
    now = datetime(2025, 3, 21, 9, 0, tzinfo=UTC)
    report = run_alerts(engine, cfg, now)
    # author: 50001; search: 50001 (every word of "sparse retrieval"; 50002 lacks "sparse"); cs.IR: 50001
    assert report.matched == 3
    assert run_alerts(engine, cfg, now).matched == 0

    # The Slack receiver fails twice: back-off of 1, then 2 minutes; the JSON one takes it at once.
    receiver.statuses = [500, 200, 503]  # in delivery order: Slack, JSON, Slack again
    policy = RetryPolicy()
    ticks = [now]
    first = deliver_webhooks(engine, cfg, policy=policy, now=lambda: ticks[0])
    assert (first.sent, first.retrying) == (1, 1)
    waiting = alert_store.webhook_messages(engine, author.id)[0]
    assert waiting["status"] == "queued" and waiting["attempts"] == 1
    due = waiting["next_attempt_at"]
    assert isinstance(due, datetime) and due.replace(tzinfo=UTC) == now + timedelta(minutes=1)
    assert deliver_webhooks(engine, cfg, policy=policy, now=lambda: ticks[0]).sent == 0  # not due yet
    assert len(receiver.bodies) == 2
    ticks[0] = now + timedelta(minutes=1)
    assert deliver_webhooks(engine, cfg, policy=policy, now=lambda: ticks[0]).retrying == 1
    ticks[0] = now + timedelta(minutes=3)
    assert deliver_webhooks(engine, cfg, policy=policy, now=lambda: ticks[0]).sent == 1
    slack = [b for b, p in zip(receiver.bodies, receiver.paths, strict=True) if p == "/slack"]
    assert len(slack) == 3 and slack[0] == slack[2]  # the same message, retried
    assert "<http://papers.test/papers/2503.50001|Term Weighting Revisited>" in slack[-1]["text"]
    posted = next(b for b, p in zip(receiver.bodies, receiver.paths, strict=True) if p == "/json")
    assert [p["id"] for p in posted["papers"]] == ["2503.50001"] and posted["alert"]["id"] == search.id

    # Mail goes through the mail outbox: one message per alert with new papers.
    sent = deliver_pending(engine, cfg, kind="alert")
    assert sent is not None and sent.sent == 2
    subjects = sorted(str(m.message["Subject"]) for m in smtp.handler.to("alice@example.org"))
    assert subjects == ['paperscope alert — author "Spärck Jones": 1 new paper',
                        'paperscope alert — category "cs.IR": 1 new paper']
    assert "Term Weighting Revisited" in smtp.handler.to("alice@example.org")[0].message.get_content()

    # At most once per (alert, paper): the same paper again changes nothing; a new one is news.
    upsert_papers(engine, [_new_paper("2503.50001", "Term Weighting Revisited", ("Karen Spärck Jones",))])
    assert run_alerts(engine, cfg, now).matched == 0
    upsert_papers(engine, [_new_paper("2503.50003", "More Weighting", ("K. Sparck Jones",), cat="cs.CL",
                                      abstract="Weights.")])
    assert run_alerts(engine, cfg, now).matched == 1  # the author alert only
    deliver_webhooks(engine, cfg, policy=policy, now=lambda: ticks[0])
    assert [len(alert_store.webhook_messages(engine, a.id)) for a in (author, search, category)] == [2, 1, 0]
    assert deliver_pending(engine, cfg, kind="alert").sent == 1  # type: ignore[union-attr]
    app_state(app).engine.dispose()


def test_unreachable_webhook_is_retried_then_failed(settings: Settings) -> None:
    cfg = settings.model_copy(update={"webhook_allow_private": True})
    app, _ = make_app(cfg)
    engine = app_state(app).engine
    alice = add_user(engine, "alice")
    dead = f"http://127.0.0.1:{free_port()}/hook"  # nothing listens there
    now = datetime(2025, 3, 21, 9, 0, tzinfo=UTC)
    alert = alert_store.create_alert(engine, alice.id, kind="category", query="cs.IR", email=False,
                                     webhook_url=dead, webhook_format="discord", group_id=None, now=now)
    upsert_papers(engine, [_new_paper("2503.50001", "Term Weighting Revisited", ("Karen Spärck Jones",))])
    assert run_alerts(engine, cfg, now).matched == 1
    policy = RetryPolicy(max_attempts=2)
    assert deliver_webhooks(engine, cfg, policy=policy, now=lambda: now).retrying == 1
    later = now + timedelta(minutes=5)
    assert deliver_webhooks(engine, cfg, policy=policy, now=lambda: later).failed == 1
    gone = alert_store.webhook_messages(engine, alert.id)[0]
    assert gone["status"] == "failed" and "could not connect" in str(gone["last_error"])
    # With private addresses not allowed, a queued message to one is refused at delivery time too.
    upsert_papers(engine, [_new_paper("2503.50004", "Yet More", ("Someone Else",))])
    run_alerts(engine, cfg, now)
    assert deliver_webhooks(engine, settings, now=lambda: later).failed == 1
    app_state(app).engine.dispose()


def test_alerts_to_a_groups_webhook(settings: Settings, receiver: Receiver) -> None:
    cfg = settings.model_copy(update={"webhook_allow_private": True})
    app, _ = make_app(cfg)
    engine = app_state(app).engine
    add_user(engine, "alice")
    add_user(engine, "bob")
    owner, member = TestClient(app), TestClient(app)
    sign_in(owner, "alice")
    sign_in(member, "bob")
    owner.post("/groups", data={"slug": "ir-lab", "name": "IR lab", "csrf": page_csrf(owner, "/groups")})
    owner.post("/groups/ir-lab/members", data={"username": "bob", "csrf": page_csrf(owner, "/groups/ir-lab")})
    refused = member.post("/groups/ir-lab/webhook", data={"webhook_url": receiver.url("/lab"),
                                                          "csrf": page_csrf(member, "/groups/ir-lab")})
    assert refused.status_code == 403  # members use it, owners set it
    assert owner.post("/groups/ir-lab/webhook", data={"webhook_url": "file:///etc/passwd",
                                                      "csrf": page_csrf(owner, "/groups/ir-lab")}
                      ).status_code == 400
    owner.post("/groups/ir-lab/webhook", data={"webhook_url": receiver.url("/lab"),
                                               "webhook_format": "matrix",
                                               "csrf": page_csrf(owner, "/groups/ir-lab")})
    token = page_csrf(member, "/account/alerts")
    outsider = member.post("/alerts", data={"kind": "category", "query": "cs.IR", "group": "no-such-group",
                                            "csrf": token})
    assert outsider.status_code == 403
    assert member.post("/alerts", data={"kind": "category", "query": "cs.IR", "group": "ir-lab",
                                         "csrf": token}, follow_redirects=False).status_code == 303
    upsert_papers(engine, [_new_paper("2503.50001", "Term Weighting Revisited", ("Karen Spärck Jones",))])
    now = datetime(2025, 3, 21, 9, 0, tzinfo=UTC)
    assert run_alerts(engine, cfg, now).matched == 1
    assert deliver_webhooks(engine, cfg, now=lambda: now).sent == 1
    assert receiver.paths == ["/lab"] and "Term Weighting Revisited" in receiver.bodies[0]["html"]
    app_state(app).engine.dispose()
