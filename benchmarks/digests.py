"""Benchmark: compose and send digests for 10,000 subscribers over the 74.7k-paper snapshot.

The snapshot is ingested into a temporary home (SQLite) by `paperscope ingest jsonl` (not timed; pass
--home to reuse one). 10,000 confirmed weekly subscribers get a seeded mix of trending, 1-2 categories
and 1-2 saved searches drawn from ~400 distinct queries (with and without category filters). Then,
timed in this process exactly as `paperscope digest run` does it: compose every due digest into the
outbox, then deliver the outbox over one SMTP connection to an aiosmtpd server on 127.0.0.1 running in
its own process (it counts and discards). Timed exactly as `paperscope digest run` works
(`mail.runner.run_cycle`): distinct saved searches run once up front, digests are composed in batches
of 500 into the outbox, and --connections SMTP sessions (default 2, like the setting) send them while
composing continues. Reports total seconds, messages per second (composed and sent, over the total),
this process's peak RSS and the CPU seconds of both processes with the load average (the wall times
mean little on a busy machine).

    .venv/bin/python benchmarks/digests.py [--subscribers 10000] [--home DIR] [--file PATH]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.pg import free_port  # noqa: E402

from paperscope.cli.digest import trending_fetch  # noqa: E402
from paperscope.mail.runner import run_cycle  # noqa: E402
from paperscope.settings import Settings  # noqa: E402
from paperscope.store import count_papers, open_database  # noqa: E402
from paperscope.store.papers import utcnow  # noqa: E402
from paperscope.store.schema import mail_outbox, mail_sent_papers, subscriptions  # noqa: E402
from paperscope.store.subscriptions import DigestChoice, SavedSearch, add_subscriptions_bulk  # noqa: E402

DEFAULT_FILE = ROOT.parent / "shared" / "data" / "arxiv-2025-2026.jsonl.gz"
GOAL_RATE = 200.0  # messages/s, composed and sent

TOPICS = """large language models; retrieval augmented generation; diffusion models; graph neural networks;
reinforcement learning from human feedback; vision transformers; federated learning; quantum error
correction; dark matter; gravitational waves; protein structure prediction; single-cell sequencing;
autonomous driving; speech recognition; machine translation; code generation; mixture of experts;
contrastive learning; neural radiance fields; gaussian splatting; time series forecasting; anomaly
detection; causal inference; differential privacy; adversarial robustness; knowledge distillation;
model compression; sparse attention; state space models; in-context learning; chain of thought;
mathematical reasoning; theorem proving; robot manipulation; legged locomotion; multi-agent systems;
recommender systems; information retrieval; question answering; hallucination detection; medical
imaging; drug discovery; weather prediction; climate modelling; exoplanet atmospheres; black hole
accretion; topological insulators; superconductivity; quantum simulation; variational quantum
algorithms; optimal transport; stochastic differential equations; bayesian optimization; neural
operators; physics-informed neural networks; point cloud segmentation; object detection; video
generation; text to image; image super-resolution; semantic segmentation; 3d reconstruction; visual
question answering; multimodal models; speech synthesis; music generation; emotion recognition; fake
news detection; social networks; graph transformers; link prediction; molecular generation; materials
discovery; battery materials; power systems; smart grids; wireless communication; reconfigurable
intelligent surfaces; edge computing; blockchain; cryptography; program synthesis; software testing;
compiler optimization; formal verification; game theory; mechanism design; online learning; bandits;
curriculum learning; continual learning; meta learning; few-shot learning; domain adaptation;
out-of-distribution detection; uncertainty quantification; conformal prediction; explainable ai;
fairness; long context; tokenization; low-resource languages; sentiment analysis; named entity
recognition; relation extraction; summarization; dialogue systems; agents tool use; web agents""".replace(
    "\n", " ").split(";")
CATEGORY_FILTERS = [(), ("cs.CL",), ("cs.LG",), ("cs.CV",)]


def smtp_sink(port: int, ready: Any, count: Any, cpu: Any) -> None:
    """Run an aiosmtpd server that accepts and counts every message (in its own process)."""
    from aiosmtpd.controller import Controller

    class Sink:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            with count.get_lock():
                count.value += 1
            cpu.value = time.process_time()
            return "250 OK"

    controller = Controller(Sink(), hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    try:
        while True:
            time.sleep(3600)
    finally:
        controller.stop()


def ensure_corpus(home: Path, path: Path) -> sa.Engine:
    """The store under `home`, with the snapshot ingested once."""
    settings = Settings(home=home)
    engine = open_database(settings.db_url)
    if count_papers(engine) < 70000:
        print(f"ingesting {path} into {home} (not timed) ...", flush=True)
        cmd = [sys.executable, "-m", "paperscope", "--home", str(home), "ingest", "jsonl", str(path)]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return engine


def make_subscribers(engine: sa.Engine, n: int, seed: int = 7) -> int:
    """Replace all subscribers by `n` seeded ones; return how many distinct saved searches they hold."""
    with engine.begin() as conn:
        for table in (mail_sent_papers, mail_outbox, subscriptions):
            conn.execute(table.delete())
        cats = [c for c, in conn.execute(sa.text(
            "SELECT category FROM paper_categories GROUP BY category ORDER BY count(*) DESC LIMIT 30"))]
    rng = random.Random(seed)
    pool = [SavedSearch(t.strip(), f) for t in TOPICS if t.strip() for f in CATEGORY_FILTERS]
    rows = []
    used: set[SavedSearch] = set()
    for i in range(n):
        searches = tuple(rng.sample(pool, rng.choice((0, 1, 1, 2))))
        used.update(searches)
        categories = tuple(rng.sample(cats, rng.choice((0, 1, 1, 2))))
        trending = rng.random() < 0.3 or not (searches or categories)
        rows.append((f"reader{i}@example.com", "weekly", DigestChoice(trending, categories, searches)))
    for i in range(0, n, 2000):
        add_subscriptions_bulk(engine, rows[i:i + 2000])  # type: ignore[arg-type]
    return len(used)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--subscribers", type=int, default=10000)
    ap.add_argument("--home", type=Path, default=None, help="reuse this home (ingested once)")
    ap.add_argument("--file", type=Path, default=DEFAULT_FILE)
    ap.add_argument("--connections", type=int, default=2, help="SMTP sessions at once")
    args = ap.parse_args()
    if not args.file.exists():
        sys.exit(f"snapshot not found: {args.file}")
    home = args.home or Path(tempfile.mkdtemp(prefix="paperscope-digests-"))
    engine = ensure_corpus(home, args.file)
    distinct = make_subscribers(engine, args.subscribers)

    port = free_port()
    ctx = mp.get_context("spawn")
    ready, count, sink_cpu = ctx.Event(), ctx.Value("i", 0), ctx.Value("d", 0.0)
    server = ctx.Process(target=smtp_sink, args=(port, ready, count, sink_cpu), daemon=True)
    server.start()
    ready.wait(30)
    settings = Settings(home=home, smtp_host="127.0.0.1", smtp_port=port,
                        mail_from="paperscope <digest@example.org>", base_url="https://papers.example.org",
                        smtp_connections=args.connections)
    try:
        load_before = os.getloadavg()[0]
        c0 = time.process_time()
        report = run_cycle(engine, settings, trending=trending_fetch(engine), now=utcnow())
        cpu = time.process_time() - c0
        load_after = os.getloadavg()[0]
    finally:
        server.terminate()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    composed, delivered = report.compose, report.delivery
    rate = delivered.sent / report.seconds if report.seconds else 0.0
    print(f"papers {count_papers(engine)}, subscribers {args.subscribers}, "
          f"distinct saved searches {distinct}, SMTP connections {settings.smtp_connections}")
    print(f"composed {composed.composed} ({composed.empty} with nothing new), done at "
          f"{report.compose_seconds:.1f} s; "
          f"sent {delivered.sent} (failed {delivered.failed}, retrying {delivered.retrying}); "
          f"server counted {count.value}")
    print(f"total {report.seconds:.1f} s -> {rate:.0f} messages/s composed and sent "
          f"(goal >= {GOAL_RATE:.0f}); "
          f"peak RSS {peak_mb:.0f} MB")
    print(f"CPU seconds: paperscope {cpu:.1f}, SMTP server process {sink_cpu.value:.1f}; "
          f"load average {load_before:.1f} before, {load_after:.1f} after (2 cores)")
    print("PASS" if rate >= GOAL_RATE and delivered.sent == composed.composed else "BELOW GOAL")


if __name__ == "__main__":
    main()
