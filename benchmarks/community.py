"""Benchmark: the cost of community writes and of trending reads as local activity grows.

A temporary SQLite store gets `--papers` papers spread over the last 7 listing days (none with Hugging
Face upvotes, so every trending candidate comes from local activity), `--users` accounts, and then
`--votes` upvotes cast one by one through the same store call the web app uses (each its own
transaction, updating `local_upvotes` and the stored community trend). Reports votes per second, then
the latency of one trending page (median of 20) after 10% and after 100% of the votes: with the stored
trend the page costs one indexed query whatever the number of votes. Also times one argon2id hash at
the app's parameters (the cost of one sign-in).

    .venv/bin/python benchmarks/community.py [--papers 20000] [--users 500] [--votes 5000]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from record import save_record  # noqa: E402

from paperscope.feed.trending import add_event, trending_papers  # noqa: E402
from paperscope.model import Paper  # noqa: E402
from paperscope.store import open_database, upsert_papers  # noqa: E402
from paperscope.store import users as user_store  # noqa: E402
from paperscope.store import votes as vote_store  # noqa: E402
from paperscope.web.passwords import password_hasher  # noqa: E402

LAST_DAY = date(2026, 11, 20)


def _trending_ms(engine: object, as_of: datetime) -> float:
    times = []
    for _ in range(20):
        start = time.perf_counter()
        trending_papers(engine, as_of=as_of, limit=30)  # type: ignore[arg-type]
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--papers", type=int, default=20000)
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--votes", type=int, default=5000)
    args = parser.parse_args()
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as tmp:
        engine = open_database(f"sqlite:///{Path(tmp) / 'bench.db'}")
        papers = [Paper(title=f"Paper {i}", arxiv_id=f"2611.{i:05d}", categories=("cs.LG",), source="bench",
                        listed=LAST_DAY - timedelta(days=i % 7)) for i in range(args.papers)]
        for i in range(0, len(papers), 2000):
            upsert_papers(engine, papers[i:i + 2000])
        users = [user_store.create_user(engine, f"user{i}", f"user{i}@example.org", "x").id
                 for i in range(args.users)]
        rowids = [vote_store.paper_rowid(engine, p.paper_id) or 0 for p in papers]
        as_of = datetime.combine(LAST_DAY + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
        start_time = as_of - timedelta(days=7)
        # Popularity is skewed (a few papers get most votes), as on any real feed.
        pairs: set[tuple[int, int]] = set()
        while len(pairs) < args.votes:
            pairs.add((rng.choice(users), rowids[min(int(rng.paretovariate(1.2)) - 1, len(rowids) - 1)]
                       if rng.random() < 0.5 else rng.choice(rowids)))
        ordered = list(pairs)
        tenth = len(ordered) // 10
        start = time.perf_counter()
        for n, (user, rowid) in enumerate(ordered):
            when = start_time + timedelta(seconds=7 * 86400 * n / len(ordered))
            vote_store.upvote(engine, user, rowid, when, add_event)
            if n + 1 == tenth:
                vote_seconds_first = time.perf_counter() - start
                trend_after_tenth = _trending_ms(engine, as_of)
                start = time.perf_counter()
        vote_seconds = vote_seconds_first + time.perf_counter() - start
        trend_after_all = _trending_ms(engine, as_of)
        hasher = password_hasher()
        start = time.perf_counter()
        hasher.hash("correct horse battery staple")
        hash_ms = (time.perf_counter() - start) * 1000
        engine.dispose()
    print(f"papers {args.papers}, users {args.users}, votes {len(ordered)}")
    per_vote_ms = vote_seconds * 1000 / len(ordered)
    print(f"upvotes: {len(ordered) / vote_seconds:.0f} per second ({per_vote_ms:.2f} ms each)")
    print(f"trending page (30 of {args.papers}): {trend_after_tenth:.1f} ms after {tenth} votes, "
          f"{trend_after_all:.1f} ms after {len(ordered)} votes (median of 20)")
    print(f"argon2id hash at app parameters: {hash_ms:.0f} ms")
    save_record("community", [
        {"measure": "upvotes per second (one transaction each)", "value": round(len(ordered) / vote_seconds)},
        {"measure": "ms per upvote", "value": round(per_vote_ms, 2)},
        {"measure": f"trending page ms after {tenth} votes", "value": round(trend_after_tenth, 1)},
        {"measure": f"trending page ms after {len(ordered)} votes", "value": round(trend_after_all, 1)},
        {"measure": "argon2id hash ms at the app's parameters", "value": round(hash_ms)},
    ], title=f"Votes and the trending page (median of 20): {args.papers} papers, {args.users} users, SQLite.")


if __name__ == "__main__":
    main()
