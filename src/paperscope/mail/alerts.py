"""Alert runs: find each alert's new papers, compose its messages, store them, deliver them.

New papers are those above the alert's `last_rowid`; they are read once per run for all alerts and
indexed three ways: by folded author surname (author alerts use `search/authors.py`'s rule, so
"K. Sparck Jones" follows Karen Spärck Jones under any spelling), by category (`cs.CL`, or a whole
archive: `cs`), and by stemmed word of title and abstract (a search alert matches papers that contain
every word of its query). Each alert's matches, its email (queued in the mail outbox, kind `alert`) and
its webhook message (the webhook outbox) are stored with its new high-water mark in one transaction.
One run at a time (a file lock under home).
"""

from __future__ import annotations

import email.utils
import re
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage

import sqlalchemy as sa
import Stemmer

from paperscope.files import file_lock
from paperscope.mail.webhooks import AlertNews, payload
from paperscope.model import Paper
from paperscope.search.authors import name_words, words_match
from paperscope.settings import Settings
from paperscope.store import alerts as alert_store
from paperscope.store.alerts import Alert, AlertRun
from paperscope.store.fulltext import query_terms
from paperscope.store.papers import hidden_among, iter_papers, utcnow

_WORD = re.compile(r"\w+", re.UNICODE)


class AlertsBusy(RuntimeError):
    """Another alert run is going on."""


@contextmanager
def alerts_lock(settings: Settings) -> Iterator[None]:
    settings.ensure_home()
    path = settings.home / "alerts.lock"
    with file_lock(path) as held:
        if not held:
            raise AlertsBusy(f"another alert run holds {path}")
        yield


def label(alert: Alert) -> str:
    return f'{alert.kind} "{alert.query}"'


@dataclass
class NewPapers:
    """The papers a run looks at, indexed for the three kinds of alert."""

    by_rowid: dict[int, Paper] = field(default_factory=dict)
    by_surname: dict[str, list[tuple[int, list[str]]]] = field(default_factory=lambda: defaultdict(list))
    by_category: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))
    by_stem: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))

    @classmethod
    def load(cls, engine: sa.Engine, after_rowid: int) -> NewPapers:
        new = cls()
        stemmer = Stemmer.Stemmer("english")
        for batch in iter_papers(engine, after_rowid=after_rowid):
            hidden = hidden_among(engine, [p.rowid for p in batch if p.rowid is not None])
            for paper in batch:
                if paper.rowid is None or paper.rowid in hidden:
                    continue
                rowid = paper.rowid
                new.by_rowid[rowid] = paper
                for name in paper.authors:
                    words = name_words(name)
                    if words:
                        new.by_surname[words[-1]].append((rowid, words))
                for cat in paper.categories:
                    new.by_category[cat.lower()].add(rowid)
                    new.by_category[cat.split(".", 1)[0].lower()].add(rowid)
                text = f"{paper.title} {paper.abstract}".lower()
                for stem in set(stemmer.stemWords(_WORD.findall(text))):
                    new.by_stem[stem].add(rowid)
        return new

    def matching(self, alert: Alert, stemmer: Stemmer.Stemmer) -> set[int]:
        """Row ids of the papers this alert's query selects."""
        if alert.kind == "author":
            words = name_words(alert.query)
            if not words:
                return set()
            return {rowid for rowid, stored in self.by_surname.get(words[-1], [])
                    if words_match(words, stored)}
        if alert.kind == "category":
            return set(self.by_category.get(alert.query.strip().lower(), set()))
        terms = query_terms(alert.query)
        if not terms:
            return set()
        sets = [self.by_stem.get(stem, set()) for stem in stemmer.stemWords(terms)]
        return set.intersection(*sets) if sets else set()


def compose_mail(settings: Settings, alert: Alert, news: AlertNews) -> tuple[str, bytes]:
    """(Message-ID, raw message): plain text and HTML, with a link to manage the alert."""
    msg = EmailMessage()
    msg["From"] = settings.mail_from
    msg["To"] = alert.recipient
    msg["Subject"] = news.heading
    msg["Date"] = email.utils.formatdate(localtime=False)
    message_id = email.utils.make_msgid(domain="paperscope")
    msg["Message-ID"] = message_id
    msg.set_content(news.heading + "\n\n" + "\n".join(news.lines(50))
                    + f"\n\nChange or stop this alert: {news.manage_url}\n")
    return message_id, msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))


@dataclass
class AlertReport:
    alerts: int = 0
    papers_considered: int = 0
    matched: int = 0  # (alert, paper) pairs newly recorded
    messages: int = 0


def run_alerts(engine: sa.Engine, settings: Settings, now: datetime | None = None) -> AlertReport:
    """Match every alert against the papers added since it last looked; store matches and messages.
    Call under `alerts_lock`."""
    now = now or utcnow()
    report = AlertReport()
    alerts = alert_store.all_alerts(engine)
    report.alerts = len(alerts)
    if not alerts:
        return report
    top = alert_store.max_rowid(engine)
    low = min(a.last_rowid for a in alerts)
    if low >= top:
        return report
    new = NewPapers.load(engine, low)
    report.papers_considered = len(new.by_rowid)
    stemmer = Stemmer.Stemmer("english")
    base = settings.base_url.rstrip("/")
    for alert in alerts:
        if alert.last_rowid >= top:
            continue
        rowids = sorted(r for r in new.matching(alert, stemmer) if r > alert.last_rowid)
        ids = alert_store.unmatched(engine, alert.id, [new.by_rowid[r].paper_id for r in rowids])
        run = AlertRun(alert=alert, paper_ids=ids, upto_rowid=top)
        if ids:
            by_id = {new.by_rowid[r].paper_id: new.by_rowid[r] for r in rowids}
            news = AlertNews(label=label(alert), manage_url=f"{base}/account/alerts",
                             papers=[by_id[i] for i in ids], base_url=base)
            hook = alert.webhook
            if hook is not None:
                run.webhook = (hook[0], payload(news, hook[1], alert.id))
            if alert.email:
                run.mail = compose_mail(settings, alert, news)
        fresh = alert_store.record_run(engine, run, now)
        report.matched += len(fresh)
        report.messages += (run.webhook is not None) + (run.mail is not None) if fresh else 0
    return report
