"""Benchmark: alert fan-out — 1,000 alerts over one day's 1,500 new papers, matched, composed, stored
and delivered (webhooks to a receiver on 127.0.0.1 in its own process; alert mail queued in the mail
outbox, whose delivery the digest benchmark measures).

Needs a loaded home (e.g. the digests benchmark's, `--home`). 100 confirmed accounts get 1,000 alerts:
400 on authors (names drawn from the new papers, written as "I. Surname" half the time), 300 searches
(topics of benchmarks/digests.py), 300 categories; every alert mails, half also post to the receiver
(generic JSON, Slack or Discord in turn). Each alert's high-water mark is put 1,500 papers below the
newest, so those are the day's new papers. Reports the matching/storing pass and the webhook delivery
separately, with messages, matches and the process's peak RSS.

    .venv/bin/python benchmarks/alerts.py --home DIR [--alerts 1000] [--new 1500]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import random
import resource
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.digests import TOPICS  # noqa: E402
from tests.pg import free_port  # noqa: E402

from paperscope.mail.alerts import run_alerts  # noqa: E402
from paperscope.mail.webhooks import deliver_webhooks  # noqa: E402
from paperscope.settings import Settings  # noqa: E402
from paperscope.store import open_database  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from record import save_record  # noqa: E402


def receiver(port: int, ready: Any, count: Any) -> None:
    """A webhook receiver that answers 200 to every POST and counts them."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with count.get_lock():
                count.value += 1
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    ready.set()
    server.serve_forever()


def make_alerts(engine: sa.Engine, n: int, new: int, url: str, seed: int = 9) -> int:
    """Replace accounts and alerts by seeded ones; returns the high-water mark given to every alert."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    with engine.begin() as conn:
        for table in ("alert_outbox", "alert_matches", "alerts", "mail_outbox_bodies", "mail_sent_papers",
                      "mail_outbox", "subscriptions", "users"):
            conn.execute(sa.text(f"DELETE FROM {table}"))
        top = int(conn.execute(sa.text("SELECT max(id) FROM papers")).scalar() or 0)
        mark = top - new
        lists = conn.execute(sa.text("SELECT authors FROM papers WHERE id > :m"), {"m": mark}).scalars()
        authors = [a for row in lists for a in (row if isinstance(row, list) else json.loads(row))]
        cats = [c for c, in conn.execute(sa.text(
            "SELECT category FROM paper_categories GROUP BY category ORDER BY count(*) DESC LIMIT 60"))]
        conn.execute(sa.text("INSERT INTO users (id, username, email, password_hash, role, status, "
                             "created_at, email_verified_at, feed_generation) "
                             "VALUES (:i, :u, :e, 'x', 'user', 'active', :t, :t, 0)"),
                     [{"i": i + 1, "u": f"lab{i}", "e": f"lab{i}@example.com", "t": now} for i in range(100)])
        topics = [t.strip() for t in TOPICS if t.strip()]
        rows = []
        for i in range(n):
            if i % 10 < 4:
                name = rng.choice(authors)
                parts = name.split()
                kind, query = "author", (f"{parts[0][0]}. {' '.join(parts[1:])}"
                                         if len(parts) > 1 and i % 2 else name)
            elif i % 10 < 7:
                kind, query = "search", rng.choice(topics)
            else:
                kind, query = "category", rng.choice(cats)
            hook = i % 2 == 0
            rows.append({"u": i % 100 + 1, "k": kind, "q": query[:500], "h": url if hook else None,
                         "f": ("json", "slack", "discord")[i % 3] if hook else None, "m": mark, "t": now})
        conn.execute(sa.text("INSERT INTO alerts (user_id, kind, query, email, webhook_url, webhook_format, "
                             "last_rowid, created_at) VALUES (:u, :k, :q, true, :h, :f, :m, :t)"), rows)
    return mark


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--home", type=Path, required=True)
    ap.add_argument("--alerts", type=int, default=1000)
    ap.add_argument("--new", type=int, default=1500)
    args = ap.parse_args()
    port = free_port()
    ctx = mp.get_context("spawn")
    ready, count = ctx.Event(), ctx.Value("i", 0)
    proc = ctx.Process(target=receiver, args=(port, ready, count), daemon=True)
    proc.start()
    ready.wait(30)
    settings = Settings(home=args.home, webhook_allow_private=True, base_url="https://papers.example.org")
    engine = open_database(settings.db_url)
    make_alerts(engine, args.alerts, args.new, f"http://127.0.0.1:{port}/hook")
    try:
        t0 = time.perf_counter()
        report = run_alerts(engine, settings)
        t1 = time.perf_counter()
        hooks = deliver_webhooks(engine, settings)
        t2 = time.perf_counter()
    finally:
        proc.terminate()
    with engine.connect() as conn:
        mails = conn.execute(sa.text("SELECT count(*) FROM mail_outbox WHERE kind = 'alert'")).scalar()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{report.alerts} alerts over {report.papers_considered} new papers: {report.matched} matches, "
          f"{report.messages} messages ({mails} mails queued) in {t1 - t0:.2f} s; "
          f"webhooks: {hooks.sent} delivered ({count.value} received) in {t2 - t1:.2f} s; "
          f"total {t2 - t0:.2f} s; peak RSS {peak:.0f} MB")
    save_record("alerts", [
        {"measure": "alerts / new papers / matches",
         "value": f"{report.alerts} / {report.papers_considered} / {report.matched}"},
        {"measure": "compose (s)", "value": round(t1 - t0, 2)},
        {"measure": "webhooks delivered, time (s)", "value": f"{hooks.sent}, {t2 - t1:.2f}"},
        {"measure": "peak RSS (MB)", "value": round(peak)},
    ], title="Alert fan-out over one day's new papers")


if __name__ == "__main__":
    main()
