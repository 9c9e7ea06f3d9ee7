"""What goes into each subscriber's next digest: periods, pluggable sections, the sent-papers rule.

A digest is a list of sections; each `SectionProvider` turns a subscription into ranked candidate lists
(trending, one per category, one per saved search; a "for you" provider can be appended later). The
planner walks them in order and keeps the first `per_section` papers of each that the subscriber has
never been sent, so no paper reaches anyone twice, across sections or across digests. Providers cache
by what they were asked, so a saved search shared by a thousand subscribers runs once per run.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Protocol, runtime_checkable

import numpy as np
import sqlalchemy as sa

from paperscope.index.lexical import LexicalIndex
from paperscope.index.retriever import Retriever
from paperscope.mail.compose import Composed, Composer, DigestSection
from paperscope.mail.tokens import MailTokens, SubscriberRef
from paperscope.model import Paper
from paperscope.search import SearchEngine, SearchFilters
from paperscope.search.types import Mode
from paperscope.store import get_papers_by_rowid
from paperscope.store.fulltext import TextFilters, rowids_matching
from paperscope.store.listings import latest_listing_day, listed_papers
from paperscope.store.mail_outbox import NewMessage, composed_for, enqueue
from paperscope.store.papers import hidden_among
from paperscope.store.subscriptions import (
    Frequency,
    SavedSearch,
    Subscription,
    iter_active,
    sent_paper_ids,
)

# Candidates fetched per section: enough to fill `per_section` after dropping already-sent papers.
CANDIDATE_FACTOR = 4
# Saved searches run ahead of composing on this many threads: the database does the work and both
# SQLite and psycopg release the GIL meanwhile, so two cores rank two queries at once.
SEARCH_THREADS = 2
# Saved searches that share a query (and author) but filter to different categories rank the same
# papers, restricted: the query runs once this deep, unfiltered, and each variant takes its first papers
# in its categories from that ranking (exactly its own top ones, whenever there are enough).
SHARED_QUERY_DEPTH = 200
DAILY_WINDOW_DAYS = 3  # covers a weekend gap; the sent log drops anything already delivered
WEEKLY_WINDOW_DAYS = 8


@dataclass(frozen=True)
class DigestPeriod:
    """One digest edition: its frequency, the key that makes it unique, the listing days it covers."""

    frequency: Frequency
    key: str
    first_day: date
    last_day: date


def due_periods(now: datetime, newest_listing: date | None) -> list[DigestPeriod]:
    """The editions due at `now`: daily on weekdays, weekly once per ISO week.

    The listing window ends at the newest listing day in the store (not today) so a store that lags
    behind the calendar still yields papers.
    """
    today = now.date()
    last = min(today, newest_listing) if newest_listing else today
    periods = []
    if today.weekday() < 5:
        periods.append(DigestPeriod("daily", today.isoformat(), last - timedelta(days=DAILY_WINDOW_DAYS - 1),
                                    last))
    year, week, _ = today.isocalendar()
    periods.append(DigestPeriod("weekly", f"{year}-W{week:02d}",
                                last - timedelta(days=WEEKLY_WINDOW_DAYS - 1), last))
    return periods


@dataclass(frozen=True)
class CandidateSection:
    """A ranked list of papers for one section, longer than the digest shows."""

    key: str
    title: str
    papers: Sequence[Paper]


def candidate_depth(sub: Subscription) -> int:
    """How many candidates each section fetches for `sub`."""
    return max(sub.per_section * CANDIDATE_FACTOR, 20)


class SectionProvider(Protocol):
    """Something that contributes sections to a subscriber's digest."""

    def sections(self, sub: Subscription, period: DigestPeriod, depth: int) -> list[CandidateSection]: ...


@runtime_checkable
class Prefetching(Protocol):
    """A provider that can do its work for a whole run up front (e.g. run each distinct search once)."""

    def prefetch(self, subs: Sequence[Subscription], period: DigestPeriod) -> None: ...


TrendingFetch = Callable[[date, date, int], list[Paper]]


class TrendingSection:
    """The most upvoted-and-recent papers of the period (the ranking comes from feed.trending, injected
    by the caller because mail/ and feed/ are sibling stages)."""

    def __init__(self, fetch: TrendingFetch) -> None:
        self._fetch = fetch
        self._cache: dict[tuple[date, date, int], list[Paper]] = {}

    def sections(self, sub: Subscription, period: DigestPeriod, depth: int) -> list[CandidateSection]:
        if not sub.choice.trending:
            return []
        key = (period.first_day, period.last_day, depth)
        if key not in self._cache:
            self._cache[key] = self._fetch(period.first_day, period.last_day, depth)
        return [CandidateSection("trending", "Trending", self._cache[key])]


class CategorySections:
    """One section per followed category: its most upvoted, then newest, papers of the period."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self._cache: dict[tuple[str, date, date, int], list[Paper]] = {}

    def sections(self, sub: Subscription, period: DigestPeriod, depth: int) -> list[CandidateSection]:
        found = []
        for category in sub.choice.categories:
            key = (category, period.first_day, period.last_day, depth)
            if key not in self._cache:
                self._cache[key] = listed_papers(self.engine, period.first_day, period.last_day,
                                                 category=category, order="upvotes", limit=depth)[0]
            found.append(CandidateSection(f"category:{category}", f"New in {category}", self._cache[key]))
        return found


class SavedSearchSections:
    """One section per saved search, run over the period's new papers (bm25 unless told otherwise:
    it needs no encoder and ranks thousands of distinct queries quickly).

    When the search engine's in-memory BM25 index covers every paper, a bm25 saved search goes to it
    directly, restricted to the period's papers (one set of row ids per distinct filter, read once per
    run): the same ranking bm25 mode gives, without what a full search adds per query (reading the
    window from the database, loading the hits and their matched words), about 2 ms instead of 10-50.
    """

    def __init__(self, engine: sa.Engine, search_engine: SearchEngine, mode: Mode = "bm25") -> None:
        self.engine = engine
        self.search_engine = search_engine
        self.mode = mode
        self._cache: dict[tuple[SavedSearch, date, date, int], list[Paper]] = {}
        self._papers: dict[int, Paper] = {}
        self._allowed: dict[tuple[tuple[str, ...], str | None, date, date], np.ndarray] = {}
        self._direct: tuple[LexicalIndex | None] | None = None  # decided once per run (see _lexical)
        self._lock = threading.Lock()  # prefetch searches on several threads

    def _lexical(self) -> LexicalIndex | None:
        """The BM25 index to search directly, or None: not bm25 mode, no index, or papers newer than
        the index (bm25 mode finds those in the database's full-text index: the engine merges them)."""
        with self._lock:
            if self._direct is None:
                retriever = self.search_engine.retriever
                self._direct = (retriever.complete_lexical() if self.mode == "bm25" else None,)
            return self._direct[0]

    def _window(self, saved: SavedSearch, period: DigestPeriod) -> np.ndarray:
        """Row ids of the period's visible papers that pass `saved`'s filters (read once per filter)."""
        key = (saved.categories, saved.author, period.first_day, period.last_day)
        with self._lock:
            if key not in self._allowed:
                ids = rowids_matching(self.engine, TextFilters(categories=saved.categories,
                                                               date_from=period.first_day,
                                                               date_to=period.last_day, author=saved.author))
                hidden = hidden_among(self.engine, ids)
                self._allowed[key] = np.asarray([i for i in ids if i not in hidden], dtype=np.int64)
            return self._allowed[key]

    def _ranked(self, saved: SavedSearch, period: DigestPeriod, depth: int) -> list[int]:
        """Row ids of `saved`'s best `depth` papers of the period."""
        index = self._lexical()
        if index is not None:
            return index.search(saved.query, depth, self._window(saved, period))[0].tolist()
        filters = SearchFilters(categories=saved.categories, date_from=period.first_day,
                                date_to=period.last_day, author=saved.author)
        result = self.search_engine.search(saved.query, mode=self.mode, k=depth, filters=filters)
        return [h.rowid for h in result.hits]

    def _run(self, saved: SavedSearch, period: DigestPeriod, depth: int) -> list[Paper]:
        ids = self._ranked(saved, period, depth)
        missing = [i for i in ids if i not in self._papers]
        for paper in get_papers_by_rowid(self.engine, missing):
            if paper.rowid is not None:
                self._papers[paper.rowid] = paper
        return [self._papers[i] for i in ids if i in self._papers]

    def prefetch(self, subs: Sequence[Subscription], period: DigestPeriod) -> None:
        """Run every distinct saved search of `subs` once, on SEARCH_THREADS threads; variants of one
        query that differ only in categories share one deeper run (see SHARED_QUERY_DEPTH)."""
        jobs = list(dict.fromkeys((saved, candidate_depth(sub))
                                  for sub in subs for saved in sub.choice.searches))
        jobs = [(s, d) for s, d in jobs if (s, period.first_day, period.last_day, d) not in self._cache]
        variants: dict[tuple[str, str | None], list[tuple[SavedSearch, int]]] = {}
        for saved, depth in jobs:
            variants.setdefault((saved.query, saved.author), []).append((saved, depth))
        alone = [job for group in variants.values() if len(group) == 1 for job in group]
        shared = {key: group for key, group in variants.items() if len(group) > 1}
        unfiltered = [(SavedSearch(query, (), author), max(SHARED_QUERY_DEPTH, *(d for _, d in group)))
                      for (query, author), group in shared.items()]
        for group, base in zip(shared.values(), self._run_all(unfiltered, period), strict=True):
            for saved, depth in group:
                wanted = set(saved.categories)
                picked = [p for p in base if not wanted or not wanted.isdisjoint(p.categories)]
                if len(picked) >= depth:
                    self._cache[(saved, period.first_day, period.last_day, depth)] = picked[:depth]
                else:  # too few in the shared ranking: this variant runs on its own
                    alone.append((saved, depth))
        for (saved, depth), papers in zip(alone, self._run_all(alone, period), strict=True):
            self._cache[(saved, period.first_day, period.last_day, depth)] = papers

    def _run_all(self, jobs: Sequence[tuple[SavedSearch, int]], period: DigestPeriod) -> list[list[Paper]]:
        with ThreadPoolExecutor(max_workers=SEARCH_THREADS) as pool:
            return list(pool.map(lambda job: self._run(job[0], period, job[1]), jobs))

    def sections(self, sub: Subscription, period: DigestPeriod, depth: int) -> list[CandidateSection]:
        found = []
        for saved in sub.choice.searches:
            key = (saved, period.first_day, period.last_day, depth)
            if key not in self._cache:
                self._cache[key] = self._run(saved, period, depth)
            found.append(CandidateSection(f"search:{saved.query}", f"Matching \u201c{saved.query}\u201d",
                                          self._cache[key]))
        return found


class ForYouRanker(Protocol):
    """What the "For you" section needs (feed.foryou.DigestPicks, injected by the caller: mail/ and feed/
    are sibling stages): an account's best row ids among `days` listing days, and a bulk read ahead."""

    def picks(self, user_id: int, days: int, depth: int) -> list[int]: ...

    def prefetch(self, user_ids: list[int]) -> None: ...


ForYouFactory = Callable[[Retriever], ForYouRanker]


class ForYouSection:
    """The account's personal picks among the period's papers, for subscriptions that are linked to an
    account and asked for them (the sent log keeps them from repeating anything already delivered)."""

    def __init__(self, engine: sa.Engine, ranker: ForYouRanker) -> None:
        self.engine = engine
        self._ranker = ranker
        self._papers: dict[int, Paper] = {}

    def prefetch(self, subs: Sequence[Subscription], period: DigestPeriod) -> None:
        self._ranker.prefetch([s.user_id for s in subs if s.choice.for_you and s.user_id is not None])

    def sections(self, sub: Subscription, period: DigestPeriod, depth: int) -> list[CandidateSection]:
        if not sub.choice.for_you or sub.user_id is None:
            return []
        days = (period.last_day - period.first_day).days + 1
        ids = self._ranker.picks(sub.user_id, days, depth)
        missing = [i for i in ids if i not in self._papers]
        for paper in get_papers_by_rowid(self.engine, missing):
            if paper.rowid is not None:
                self._papers[paper.rowid] = paper
        papers = [self._papers[i] for i in ids if i in self._papers]
        return [CandidateSection("foryou", "For you", papers)] if papers else []


def default_providers(engine: sa.Engine, search_engine: SearchEngine,
                      trending: TrendingFetch | None,
                      for_you: ForYouFactory | None = None) -> list[SectionProvider]:
    """Trending (when a ranking is supplied), categories, saved searches, then "For you" (when supplied),
    in that order."""
    providers: list[SectionProvider] = []
    if trending is not None:
        providers.append(TrendingSection(trending))
    providers += [CategorySections(engine), SavedSearchSections(engine, search_engine)]
    if for_you is not None:
        providers.append(ForYouSection(engine, for_you(search_engine.retriever)))
    return providers


def plan_digest(sub: Subscription, period: DigestPeriod, providers: Sequence[SectionProvider],
                already_sent: set[str], composer: Composer) -> list[DigestSection]:
    """The sections of `sub`'s digest: top `per_section` unseen papers each; empty sections dropped."""
    used = set(already_sent)
    depth = candidate_depth(sub)
    planned = []
    for provider in providers:
        for cand in provider.sections(sub, period, depth):
            items = []
            for paper in cand.papers:
                if paper.paper_id in used:
                    continue
                used.add(paper.paper_id)
                items.append(composer.item(paper))
                if len(items) >= sub.per_section:
                    break
            if items:
                planned.append(DigestSection(cand.key, cand.title, tuple(items)))
    return planned


@dataclass
class ComposeReport:
    """What a compose pass did."""

    composed: int = 0
    empty: int = 0  # nothing new for them this time: no message
    already: int = 0  # this edition was composed by an earlier run
    periods: list[str] = field(default_factory=list)


@dataclass
class DigestComposer:
    """Composes due digests for every active subscriber, a batch of subscribers at a time."""

    engine: sa.Engine
    composer: Composer
    tokens: MailTokens
    providers: Sequence[SectionProvider]
    batch_size: int = 500
    # Messages per store transaction. On SQLite, senders' per-message commits wait while one is
    # written; short ones keep those waits short (its busy handler sleeps ever longer, up to 100 ms).
    store_size: int = 100

    def compose_one(self, sub: Subscription, period: DigestPeriod, sent: set[str],
                    now: datetime) -> NewMessage | None:
        """The message `sub` gets for `period`, or None when there is nothing new."""
        sections = plan_digest(sub, period, self.providers, sent, self.composer)
        if not sections:
            return None
        url = self.tokens.unsubscribe_url(SubscriberRef(sub.id, sub.email))
        built: Composed = self.composer.digest(to=sub.email, frequency=sub.frequency, sections=sections,
                                               unsubscribe_url=url, now=now)
        return NewMessage(subscription=sub.id, kind="digest", digest_key=period.key, recipient=sub.email,
                          message_id=built.message_id, raw=built.raw,
                          paper_ids=[i.paper_id for s in sections for i in s.items])

    def batches(self, now: datetime, report: ComposeReport) -> Iterator[list[NewMessage]]:
        """Compose due digests batch by batch (the caller stores or writes each batch)."""
        periods = due_periods(now, latest_listing_day(self.engine))
        report.periods = [p.key for p in periods]
        for period in periods:
            prefetching = [p for p in self.providers if isinstance(p, Prefetching)]
            if prefetching:
                everyone = [s for batch in iter_active(self.engine, [period.frequency], 5000) for s in batch]
                # Only for those still waiting for this edition: a cron run every 15 minutes that finds
                # everything composed must not re-run every saved search.
                done = composed_for(self.engine, [s.id for s in everyone], "digest", period.key)
                waiting = [s for s in everyone if s.id not in done]
                for provider in prefetching:
                    provider.prefetch(waiting, period)
                del everyone, waiting
            for subs in iter_active(self.engine, [period.frequency], self.batch_size):
                ids = [s.id for s in subs]
                done = composed_for(self.engine, ids, "digest", period.key)
                todo = [s for s in subs if s.id not in done]
                report.already += len(subs) - len(todo)
                sent = sent_paper_ids(self.engine, [s.id for s in todo])
                batch = []
                for sub in todo:
                    msg = self.compose_one(sub, period, sent[sub.id], now)
                    if msg is None:
                        report.empty += 1
                    else:
                        batch.append(msg)
                report.composed += len(batch)
                yield batch

    def compose_due(self, now: datetime, on_batch: Callable[[int], None] | None = None) -> ComposeReport:
        """Compose and store every due digest, each message with its sent-log rows, in transactions of at
        most `store_size` messages. (Storing bodies zlib-compressed was measured in the 10,000-subscriber
        benchmark and gained nothing: benchmarks/RESULTS.md, digests session 4.)"""
        report = ComposeReport()
        for batch in self.batches(now, report):
            for i in range(0, len(batch), self.store_size):
                # queue times are wall-clock; `now` names the edition
                enqueue(self.engine, batch[i:i + self.store_size])
            if on_batch is not None:
                on_batch(report.composed)
        return report

    def preview(self, sub: Subscription, now: datetime) -> NewMessage | None:
        """What `sub` would get next (the first due edition of their frequency), without storing it."""
        newest = latest_listing_day(self.engine)
        periods = [p for p in due_periods(now, newest) if p.frequency == sub.frequency]
        if not periods:  # a daily subscriber on a weekend: show Monday's edition
            monday = now + timedelta(days=7 - now.weekday())
            periods = [p for p in due_periods(monday, newest) if p.frequency == sub.frequency]
        sent = sent_paper_ids(self.engine, [sub.id])[sub.id]
        return self.compose_one(sub, periods[0], sent, now)
