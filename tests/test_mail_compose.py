"""What a subscriber receives: a readable multipart digest with the right links and headers."""

from __future__ import annotations

import email
import email.policy
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import sqlalchemy as sa

from paperscope.cli.digest import trending_fetch
from paperscope.mail.runner import digest_composer
from paperscope.settings import Settings
from paperscope.store.mail_outbox import outbox_counts
from paperscope.store.subscriptions import (
    DigestChoice,
    SavedSearch,
    add_subscriptions_bulk,
    find_subscription,
)
from tests.mail_data import load_papers

TUESDAY = datetime(2026, 11, 24, 7, 0, tzinfo=UTC)


def preview(engine: sa.Engine, settings: Settings, address: str) -> EmailMessage:
    sub = find_subscription(engine, address)
    assert sub is not None
    msg = digest_composer(engine, settings, trending_fetch(engine)).preview(sub, TUESDAY)
    assert msg is not None
    parsed = email.message_from_bytes(msg.raw, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def test_digest_is_multipart_with_links_headers_and_no_remote_content(
        engine: sa.Engine, settings: Settings) -> None:
    cfg = settings.model_copy(update={"base_url": "https://papers.example.org",
                                      "mail_from": "Paper Digest <news@example.org>"})
    load_papers(engine, TUESDAY.date() - timedelta(days=1))
    add_subscriptions_bulk(engine, [("ada@example.com", "daily", DigestChoice(
        trending=True, categories=("quant-ph",), searches=(SavedSearch("protein folding"),)))], per_section=3)
    msg = preview(engine, cfg, "ada@example.com")

    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    assert msg["From"] == "Paper Digest <news@example.org>" and msg["To"] == "ada@example.com"
    assert re.fullmatch(r"<[^@>]+@example\.org>", msg["Message-ID"])
    assert email.utils.parsedate_to_datetime(msg["Date"]) == TUESDAY
    unsubscribe = msg["List-Unsubscribe"]
    assert re.fullmatch(r"<https://papers\.example\.org/subscriptions/unsubscribe/[\w.\-]+>", unsubscribe)
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

    html = msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
    text = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "<img" not in html and "<link" not in html and "<style" not in html and "url(" not in html
    assert "&lt;part 0&gt;" in html and "<part 0>" not in html  # titles are escaped in HTML
    assert "<part 0>" in text
    for section in ("Trending", "New in quant-ph", "Matching \u201cprotein folding\u201d"):
        assert section in html and section in text
    ids = re.findall(r"https://papers\.example\.org/papers/(2611\.\d{5})", text)
    assert len(ids) == 9 and len(set(ids)) == 9, "three sections of three, no paper twice"
    for paper_id in ids:
        assert f"https://arxiv.org/abs/{paper_id}" in html and f"/papers/{paper_id}" in html
    assert unsubscribe.strip("<>") in text and unsubscribe.strip("<>") in html
    # Long abstracts are shortened in the digest.
    assert "\u2026" in text


def test_preview_command_prints_the_next_digest_and_stores_nothing(
        engine: sa.Engine, settings: Settings, db_url: str) -> None:
    load_papers(engine, datetime.now(UTC).date() - timedelta(days=1))
    add_subscriptions_bulk(engine, [("bo@example.com", "weekly", DigestChoice(categories=("cs.RO",)))])
    env = dict(os.environ, PAPERSCOPE_HOME=str(settings.home), PAPERSCOPE_DATABASE_URL=db_url)
    out = subprocess.run([sys.executable, "-m", "paperscope", "digest", "preview", "BO@example.com"],
                         env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "Subject: Weekly papers digest: 5 new papers" in out.stdout
    assert "Advances in robot grasping" in out.stdout and "New in cs.RO" in out.stdout
    assert outbox_counts(engine) == {}
    missing = subprocess.run([sys.executable, "-m", "paperscope", "digest", "preview", "nobody@example.com"],
                             env=env, capture_output=True, text=True, timeout=120)
    assert missing.returncode == 2 and "no subscription for nobody@example.com" in missing.stderr


def test_each_distinct_saved_search_runs_once_per_run(engine: sa.Engine, settings: Settings) -> None:
    from typing import Any

    from paperscope.mail.compose import Composer
    from paperscope.mail.digest import DigestComposer, default_providers
    from paperscope.mail.tokens import MailTokens
    from paperscope.search import SearchEngine, SearchResult

    class CountingSearch(SearchEngine):
        calls: list[str] = []

        def search(self, query: str, **kw: Any) -> SearchResult:
            self.calls.append(query)
            return super().search(query, **kw)

    load_papers(engine, TUESDAY.date() - timedelta(days=1))
    shared = (SavedSearch("protein folding"), SavedSearch("robot grasping"))
    add_subscriptions_bulk(engine, [(f"r{i}@example.com", "daily", DigestChoice(searches=shared[: 1 + i % 2]))
                                    for i in range(6)])
    counting = CountingSearch(engine, settings)

    def composer() -> DigestComposer:
        return DigestComposer(engine, Composer(settings), MailTokens(settings),
                              default_providers(engine, counting, None), batch_size=2)

    first = composer().compose_due(TUESDAY)
    assert first.composed == 6
    assert sorted(counting.calls) == ["protein folding", "robot grasping"]
    again = composer().compose_due(TUESDAY + timedelta(hours=1))  # a later cron run, same edition
    assert (again.composed, again.already) == (0, 6)
    assert len(counting.calls) == 2, "nothing was waiting, so no search should have run"
