"""Alert webhooks: which URLs are allowed, the message shapes (Slack, Discord, Matrix, generic JSON), and
delivery from the webhook outbox (store/alerts.py) with the mail outbox's retry policy.

Allowed URLs are http(s) whose host resolves only to public addresses and is not this server's own
(PAPERSCOPE_BASE_URL): a webhook must not become a way to make the server call itself or the private
network it sits in. PAPERSCOPE_WEBHOOK_ALLOW_PRIVATE=1 lifts that (a relay on the same machine, tests).
The check runs when the URL is saved and again before every request (the name may resolve elsewhere by
then).

Outcomes: a 2xx answer is sent; 408, 429 and 5xx answers and connections that never opened are tried
again after RetryPolicy's back-off (failed after its last attempt); other 4xx answers fail at once; a
request that timed out after it was sent is `uncertain` and not repeated (at most once per alert and
paper).
"""

from __future__ import annotations

import ipaddress
import json
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
import sqlalchemy as sa
from markupsafe import escape

from paperscope.mail.outbox import RetryPolicy
from paperscope.model import Paper
from paperscope.settings import Settings
from paperscope.store import alerts as alert_store
from paperscope.store.papers import utcnow

MAX_URL = 2000
TIMEOUT = httpx.Timeout(10.0, connect=5.0)
Resolver = Callable[[str], list[str]]


class WebhookRefused(ValueError):
    """A webhook URL paperscope will not call."""


def _resolve(host: str) -> list[str]:
    return sorted({str(info[4][0]) for info in socket.getaddrinfo(host, None)})


def check_webhook_url(url: str, settings: Settings, resolve: Resolver = _resolve) -> str:
    """The URL, stripped, if alerts may post to it; else WebhookRefused saying why."""
    url = url.strip()
    if len(url) > MAX_URL:
        raise WebhookRefused(f"webhook URLs are at most {MAX_URL} characters")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookRefused("a webhook URL starts with http:// or https:// and names a host")
    if settings.webhook_allow_private:
        return url
    host = parts.hostname.lower()
    own = (urlsplit(settings.base_url).hostname or "").lower()
    if host == own or host == "localhost" or host.endswith(".localhost"):
        raise WebhookRefused("a webhook may not point at this server itself")
    try:
        addresses = resolve(host)
    except (OSError, UnicodeError):
        raise WebhookRefused(f"the webhook host {host!r} does not resolve") from None
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        if not ip.is_global or ip.is_multicast:
            raise WebhookRefused(f"the webhook host {host!r} is a private or local address ({ip}); "
                                 "set PAPERSCOPE_WEBHOOK_ALLOW_PRIVATE=1 to allow that")
    return url


@dataclass(frozen=True)
class AlertNews:
    """What a message says: which alert, and its new papers."""

    label: str  # e.g. 'author "Spärck Jones"'
    manage_url: str
    papers: list[Paper]
    base_url: str

    def link(self, paper: Paper) -> str:
        return f"{self.base_url.rstrip('/')}/papers/{paper.paper_id}"

    def lines(self, limit: int = 20) -> list[str]:
        shown = [f"• {p.title} — {', '.join(p.authors[:3])}{' et al.' if len(p.authors) > 3 else ''} "
                 f"{self.link(p)}" for p in self.papers[:limit]]
        if len(self.papers) > limit:
            shown.append(f"… and {len(self.papers) - limit} more")
        return shown

    @property
    def heading(self) -> str:
        n = len(self.papers)
        return f"paperscope alert — {self.label}: {n} new paper{'s' if n != 1 else ''}"


def payload(news: AlertNews, fmt: str, alert_id: int) -> str:
    """The JSON body for one webhook format."""
    text = news.heading + "\n" + "\n".join(news.lines())
    body: dict[str, Any]
    if fmt == "slack":
        links = [f"• <{news.link(p)}|{p.title.replace('>', ' ')}>" for p in news.papers[:20]]
        body = {"text": news.heading + "\n" + "\n".join(links)}
    elif fmt == "discord":
        body = {"content": text[:1990], "username": "paperscope"}
    elif fmt == "matrix":  # matrix-hookshot's generic webhook: plain text and HTML
        items = "".join(f'<li><a href="{escape(news.link(p))}">{escape(p.title)}</a></li>'
                        for p in news.papers[:20])
        body = {"text": text, "html": f"<p>{escape(news.heading)}</p><ul>{items}</ul>",
                "username": "paperscope"}
    else:
        body = {"alert": {"id": alert_id, "label": news.label, "manage": news.manage_url}, "text": text,
                "papers": [{"id": p.paper_id, "title": p.title, "authors": list(p.authors),
                            "url": news.link(p), "abs_url": p.abs_url} for p in news.papers]}
    return json.dumps(body, ensure_ascii=False)


@dataclass
class WebhookReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    uncertain: int = 0


def deliver_webhooks(engine: sa.Engine, settings: Settings, *, policy: RetryPolicy | None = None,
                     now: Callable[[], datetime] = utcnow, client: httpx.Client | None = None,
                     resolve: Resolver = _resolve) -> WebhookReport:
    """Post every due webhook message once; record each outcome as it happens."""
    policy = policy or RetryPolicy()
    report = WebhookReport(uncertain=alert_store.recover_webhooks(engine))
    claim = uuid.uuid4().hex
    own = client or httpx.Client(timeout=TIMEOUT, follow_redirects=False,
                                 headers={"User-Agent": settings.user_agent})
    try:
        while batch := alert_store.claim_webhooks(engine, claim, 100, now()):
            for msg in batch:
                _post(engine, settings, own, msg, policy, now, resolve, report)
    finally:
        if client is None:
            own.close()
    return report


def _post(engine: sa.Engine, settings: Settings, client: httpx.Client, msg: alert_store.WebhookMessage,
          policy: RetryPolicy, now: Callable[[], datetime], resolve: Resolver, report: WebhookReport) -> None:
    attempts = msg.attempts + 1

    def retry(error: str) -> None:
        if attempts >= policy.max_attempts:
            alert_store.mark_webhook(engine, msg.id, status="failed", attempts=attempts, now=now(),
                                     error=f"gave up after {attempts} attempts: {error}")
            report.failed += 1
        else:
            alert_store.mark_webhook(engine, msg.id, status="queued", attempts=attempts, now=now(),
                                     next_attempt_at=now() + policy.delay(attempts), error=error)
            report.retrying += 1

    try:
        check_webhook_url(msg.url, settings, resolve)
    except WebhookRefused as exc:
        alert_store.mark_webhook(engine, msg.id, status="failed", attempts=attempts, now=now(),
                                 error=str(exc))
        report.failed += 1
        return
    try:
        answer = client.post(msg.url, content=msg.payload.encode(),
                             headers={"Content-Type": "application/json"})
    except (httpx.ConnectError, httpx.ConnectTimeout) as exc:  # nothing reached the receiver
        retry(f"could not connect: {exc}")
        return
    except httpx.HTTPError as exc:  # sent, but no answer: it may have arrived
        alert_store.mark_webhook(engine, msg.id, status="uncertain", attempts=attempts, now=now(),
                                 error=f"no answer ({type(exc).__name__}); not re-sent")
        report.uncertain += 1
        return
    if 200 <= answer.status_code < 300:
        alert_store.mark_webhook(engine, msg.id, status="sent", attempts=attempts, now=now())
        report.sent += 1
    elif answer.status_code in (408, 429) or answer.status_code >= 500:
        retry(f"HTTP {answer.status_code}")
    else:
        alert_store.mark_webhook(engine, msg.id, status="failed", attempts=attempts, now=now(),
                                 error=f"HTTP {answer.status_code}: {answer.text[:200]}")
        report.failed += 1
