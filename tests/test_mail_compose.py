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
from html import unescape
from typing import Any

import pytest
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
from tests.support.text import body_part

# The backend matters here (tests/conftest.py): every store-backed test runs on SQLite and PostgreSQL.
pytestmark = pytest.mark.both_backends

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

    source = body_part(msg, "html").get_content()
    html = unescape(source)  # what a reader sees: non-ASCII characters travel as character references
    text = body_part(msg, "plain").get_content()
    assert "<img" not in source and "<link" not in source and "<style" not in source and "url(" not in source
    assert "&lt;part 0&gt;" in source and "<part 0>" not in source  # titles are escaped in HTML
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


@pytest.mark.slow
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
    # --raw prints the message as it would be sent; its text part travels as 8-bit UTF-8.
    raw = subprocess.run([sys.executable, "-m", "paperscope", "digest", "preview", "--raw", "bo@example.com"],
                         env=env, capture_output=True, text=True, timeout=120)
    assert raw.returncode == 0, raw.stderr
    assert "multipart/alternative" in raw.stdout and "Advances in robot grasping" in raw.stdout
    assert outbox_counts(engine) == {}
    missing = subprocess.run([sys.executable, "-m", "paperscope", "digest", "preview", "nobody@example.com"],
                             env=env, capture_output=True, text=True, timeout=120)
    assert missing.returncode == 2 and "no subscription for nobody@example.com" in missing.stderr


def test_each_distinct_saved_search_runs_once_per_run(engine: sa.Engine, settings: Settings) -> None:

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


def _seven_bit_html(raw: bytes) -> bool:
    """Whether the HTML part travels as 7bit (else base64)."""
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    part = parsed.get_body(("html",))
    assert part is not None
    return part["Content-Transfer-Encoding"] == "7bit"


def _digest_of_one_paper(engine: sa.Engine, settings: Settings, arxiv_id: str, title: str, abstract: str,
                         authors: tuple[str, ...], address: str) -> Any:
    """Store one cs.LG paper listed the day before TUESDAY, subscribe `address` to cs.LG, preview."""
    from paperscope.model import Paper
    from paperscope.store import upsert_papers

    day = TUESDAY.date() - timedelta(days=1)
    upsert_papers(engine, [Paper(arxiv_id=arxiv_id, version=1, title=title, abstract=abstract,
                                 authors=authors, categories=("cs.LG",), published=day, listed=day,
                                 source="jsonl")])
    add_subscriptions_bulk(engine, [(address, "daily", DigestChoice(categories=("cs.LG",)))])
    sub = find_subscription(engine, address)
    assert sub is not None
    msg = digest_composer(engine, settings, None).preview(sub, TUESDAY)
    assert msg is not None
    return msg


def test_non_ascii_papers_arrive_intact_in_a_7bit_html_part_with_short_lines(
        engine: sa.Engine, settings: Settings) -> None:
    title = "Schr\u00f6dinger bridges for \u91cf\u5b50 states \u2014 \u2211 of <experts> & more"
    abstract = ("Caf\u00e9 na\u00efvet\u00e9 \u00b7 " * 80).strip()  # long: shortened, folded, escaped
    authors = ("Ren\u00e9e \u00c5str\u00f6m", "\u674e\u534e")
    msg = _digest_of_one_paper(engine, settings, "2611.09001", title, abstract, authors, "eve@example.com")

    assert _seven_bit_html(msg.raw)
    head, _, body = msg.raw.partition(b"\r\n\r\n")
    assert head.isascii()
    assert max(len(line) for line in msg.raw.split(b"\r\n")) <= 998
    assert b"\n" not in msg.raw.replace(b"\r\n", b"")  # CRLF only
    parsed = email.message_from_bytes(msg.raw, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    html_part, text_part = parsed.get_body(("html",)), parsed.get_body(("plain",))
    assert html_part is not None and text_part is not None
    html, text = html_part.get_content(), text_part.get_content()
    assert "&lt;experts&gt; &amp; more" in html  # escaped as HTML, then non-ASCII as references
    assert title in unescape(html) and title in text
    assert "Ren\u00e9e \u00c5str\u00f6m" in unescape(html) and "\u674e\u534e" in text
    # The text part travels as UTF-8 (8bit): the only non-ASCII octets of the message are in it.
    assert text_part["Content-Transfer-Encoding"] == "8bit"
    assert title.encode("utf-8") in body


def test_an_8bit_message_goes_as_base64_to_a_server_without_8bitmime() -> None:
    from paperscope.mail.compose import multipart_alternative, seven_bit

    text = "* Schr\u00f6dinger \u2014 \u674e\u534e\r\n\r\n  " + "caf\u00e9 " * 60 + "\u2026\r\n"
    raw = multipart_alternative({"From": "a@example.org", "To": "b@example.org", "Subject": "s"}, text,
                                "<p>caf&eacute;</p>")
    assert not raw.isascii()
    converted = seven_bit(raw)
    assert converted.isascii() and max(len(line) for line in converted.split(b"\r\n")) <= 76
    before = email.message_from_bytes(raw, policy=email.policy.default)
    after = email.message_from_bytes(converted, policy=email.policy.default)
    assert isinstance(before, EmailMessage) and isinstance(after, EmailMessage)
    for kind in ("plain", "html"):
        old, new = before.get_body((kind,)), after.get_body((kind,))
        assert old is not None and new is not None and old.get_content() == new.get_content()
    assert body_part(after, "plain")["Content-Transfer-Encoding"] == "base64"
    assert after["Subject"] == "s" and after.get_content_type() == "multipart/alternative"


def test_html_that_cannot_be_folded_travels_base64(engine: sa.Engine, settings: Settings) -> None:
    word = "Supercalifragilistic" * 60  # 1,200 characters without a space: no line break possible
    msg = _digest_of_one_paper(engine, settings, "2611.09002", word, "Short.", ("A. Author",),
                               "long@example.com")
    assert not _seven_bit_html(msg.raw)
    body = msg.raw.split(b"\r\n\r\n", 1)[1]
    assert max(len(line) for line in body.split(b"\r\n")) <= 76  # base64 lines
    parsed = email.message_from_bytes(msg.raw, policy=email.policy.default)
    assert word in body_part(parsed, "html").get_content()


def test_a_digest_frame_fills_in_exactly_what_jinja_renders() -> None:
    import jinja2
    from markupsafe import Markup

    from paperscope.mail.compose import Frame

    loader = jinja2.PackageLoader("paperscope.mail", "templates")
    values = {"subject": "Tom & \"Jerry\" <3 caf\u00e9", "heading": "Daily papers digest",
              "intro": "1 paper you have not seen yet, Tuesday.", "frequency": "daily",
              "email": "o'neil+x@example.com", "base_url": "https://p.example.org/a?b=1&c=2",
              "unsubscribe_url": "https://p.example.org/u/ab.cd-ef"}
    for name, autoescape in (("digest.html", True), ("digest.txt", False)):
        env = jinja2.Environment(loader=loader, autoescape=autoescape, trim_blocks=True, lstrip_blocks=True)
        template = env.get_template(name)
        sections = Markup("<tr><td>x &amp; y</td></tr>") if autoescape else "\n\n== A & B ==\n\n<body>"
        quote = (lambda v: str(jinja2.utils.markupsafe.escape(v))) if autoescape else str
        frame = Frame(template, [*values, "sections"], quote)
        assert frame.fill({**values, "sections": sections}) == template.render(values, sections=sections)


def test_saved_searches_differing_only_in_categories_share_one_search(
        engine: sa.Engine, settings: Settings) -> None:

    from paperscope.mail.digest import SavedSearchSections, due_periods
    from paperscope.search import SearchEngine, SearchResult
    from paperscope.store.listings import latest_listing_day
    from paperscope.store.subscriptions import iter_active

    class CountingSearch(SearchEngine):
        calls: list[tuple[str, tuple[str, ...]]] = []

        def search(self, query: str, **kw: Any) -> SearchResult:
            self.calls.append((query, tuple(kw["filters"].categories)))
            return super().search(query, **kw)

    load_papers(engine, TUESDAY.date() - timedelta(days=1), per_topic=30)
    filters = ((), ("cs.LG",), ("quant-ph", "cs.RO"), ("hep-th",))
    variants = [SavedSearch("advances", cats) for cats in filters]
    add_subscriptions_bulk(engine, [(f"v{i}@example.com", "daily", DigestChoice(searches=(v,)))
                                    for i, v in enumerate(variants)])
    subs = [s for batch in iter_active(engine, ["daily"]) for s in batch]
    period = due_periods(TUESDAY, latest_listing_day(engine))[0]
    counting = CountingSearch(engine, settings)
    shared = SavedSearchSections(engine, counting)
    shared.prefetch(subs, period)
    # One unfiltered run serves every variant; hep-th (no such papers) finds too few there and runs alone.
    assert sorted(counting.calls) == [("advances", ()), ("advances", ("hep-th",))]
    alone = SavedSearchSections(engine, SearchEngine(engine, settings))
    for sub in subs:
        got = [[p.paper_id for p in c.papers] for c in shared.sections(sub, period, 20)]
        want = [[p.paper_id for p in c.papers] for c in alone.sections(sub, period, 20)]
        assert got == want, sub.choice.searches
