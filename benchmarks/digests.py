"""Benchmark: compose and send digests for 10,000 subscribers over the 74.7k-paper snapshot.

The snapshot is ingested into a temporary home (SQLite) by `paperscope ingest jsonl` (not timed; pass
--home to reuse one). 10,000 confirmed weekly subscribers get a seeded mix of trending, 0-2 categories
and 0-2 saved searches drawn from 436 distinct ones (109 queries, each with and without a category
filter). The in-memory BM25 index that `paperscope index` keeps is built once if missing (not timed),
as an installation that runs `paperscope index` has it (--no-bm25-index: not, so saved searches use
the database's full-text index). Timed exactly as `paperscope digest run` works
(`mail.runner.run_cycle`): saved searches run up front, digests are composed in batches of 500 into
the outbox, and --connections SMTP sessions (default: the smtp_connections setting, 2) send them while
composing continues, to an aiosmtpd server on 127.0.0.1 in its own process (it counts and discards).
Reports total seconds, messages per second (composed and sent, over the total), this process's peak
RSS, the CPU seconds of both processes (the server's without its start-up), bytes and lines per message
as the server received them, and the load average (wall times mean little on a busy machine).

    .venv/bin/python benchmarks/digests.py [--subscribers 10000] [--home DIR] [--file PATH]
        [--for-you FRACTION]

--for-you F links that fraction of the subscribers to accounts (each with a library of 8 papers from
the digest window) and turns on their "For you" section. The section needs pooled vectors: random unit
vectors stand in for the encoder's (the cost measured is reading, training and scoring, which does not
depend on what the vectors mean), put once into an index set over the last 14 listing days and 10,000
other papers (not timed). Run once with --for-you 0 and once with 1 on the same --home to compare.

With --baseline-src [LABEL=]DIR (a `src` folder of another version, e.g. from `git archive`; repeatable)
the benchmark runs those versions and this one alternately, each in a fresh process on the same home
and subscribers, --rounds times, and prints them side by side (compare runs only within one invocation:
the load on a shared machine changes from minute to minute). --baseline-home gives the baselines their
own copy of the home when the versions need different schema revisions (a copy of the database file made
with `sqlite3 OLD.db ".backup NEW.db"` before upgrading).
"""

from __future__ import annotations

import argparse
import json
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

from record import save_record  # noqa: E402
from tests.pg import free_port  # noqa: E402

from paperscope.cli.digest import trending_fetch  # noqa: E402
from paperscope.feed.foryou import digest_picks  # noqa: E402
from paperscope.index.build import build_lexical  # noqa: E402
from paperscope.index.lexical import LexicalIndex  # noqa: E402
from paperscope.mail.runner import run_cycle  # noqa: E402
from paperscope.settings import Settings  # noqa: E402
from paperscope.store import count_papers, open_database  # noqa: E402
from paperscope.store.papers import utcnow  # noqa: E402
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


def smtp_sink(port: int, ready: Any, count: Any, cpu: Any, size: Any = None) -> None:
    """Run an aiosmtpd server that accepts and counts every message (in its own process). `cpu` is the
    process's CPU time since it was ready (start-up and imports excluded), as of the last message;
    `size` (two doubles) sums the bytes and lines received."""
    from aiosmtpd.controller import Controller

    class Sink:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            with count.get_lock():
                count.value += 1
                if size is not None:
                    size[0] += len(envelope.content)
                    size[1] += envelope.content.count(b"\n")
            cpu.value = time.process_time() - started
            return "250 OK"

    controller = Controller(Sink(), hostname="127.0.0.1", port=port)
    controller.start()
    started = time.process_time()
    ready.set()
    try:
        while True:
            time.sleep(3600)
    finally:
        controller.stop()


def ensure_corpus(home: Path, path: Path, bm25_index: bool = True) -> sa.Engine:
    """The store under `home`, with the snapshot ingested once (and the BM25 index built once)."""
    settings = Settings(home=home)
    engine = open_database(settings.db_url)
    if count_papers(engine) < 70000:
        print(f"ingesting {path} into {home} (not timed) ...", flush=True)
        cmd = [sys.executable, "-m", "paperscope", "--home", str(home), "ingest", "jsonl", str(path)]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    if bm25_index and LexicalIndex.open(settings.index_dir / "lexical") is None:
        print("building the BM25 index (not timed) ...", flush=True)
        build_lexical(engine, settings.index_dir)
    return engine


def ensure_vectors(engine: sa.Engine, settings: Settings, seed: int = 3) -> list[int]:
    """A pooled-vector index set of random unit vectors over the recent papers (built once, not timed);
    returns the row ids of the last 14 listing days."""
    import numpy as np

    from paperscope.embed.types import Encoded
    from paperscope.index.build import IndexSet, IndexSpec

    with engine.connect() as conn:
        newest = conn.execute(sa.text("SELECT max(listed) FROM papers")).scalar()
        recent = [int(r) for r, in conn.execute(sa.text(
            "SELECT id FROM papers WHERE listed >= date(:d, '-13 days')"), {"d": str(newest)})]
        top = int(conn.execute(sa.text("SELECT max(id) FROM papers")).scalar() or 0)
    if IndexSet.open(settings.index_dir) is not None:
        return recent
    print(f"indexing {len(recent)} recent + 10000 other papers with random vectors (not timed) ...",
          flush=True)
    rng = np.random.default_rng(seed)
    others = set(rng.choice(np.arange(1, top + 1), size=10000, replace=False).tolist()) - set(recent)
    keys = np.asarray(sorted(set(recent) | others), dtype=np.int64)
    import shutil

    shutil.rmtree(settings.index_dir / "tokens", ignore_errors=True)  # a half-made set from a failed run
    index = IndexSet.create(settings.index_dir, IndexSpec(model="random", dim=384))
    sample = rng.normal(size=(4096, 384)).astype(np.float32)
    index.tokens.fit(sample / np.linalg.norm(sample, axis=1, keepdims=True))
    for i in range(0, len(keys), 2000):
        chunk = keys[i:i + 2000]
        tokens = rng.normal(size=(len(chunk), 4, 384)).astype(np.float32)
        tokens /= np.linalg.norm(tokens, axis=2, keepdims=True)
        pooled = tokens.mean(axis=1)
        pooled /= np.linalg.norm(pooled, axis=1, keepdims=True)
        index.add(chunk, [Encoded(p, t) for p, t in zip(pooled, tokens, strict=True)])
    index.save(top)
    return recent


def add_accounts(engine: sa.Engine, n: int, recent: list[int], seed: int = 11) -> None:
    """Accounts reader0..n-1 (address confirmed) with a library of 8 recent papers each, linked to the
    subscriptions of the same address, which get the "For you" section."""
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    rng = random.Random(seed)
    with engine.begin() as conn:
        for table in ("library_items", "library_versions", "paper_feedback", "users"):
            conn.execute(sa.text(f"DELETE FROM {table}"))
        conn.execute(sa.text("INSERT INTO users (id, username, email, password_hash, role, status, "
                             "created_at, email_verified_at, feed_generation) "
                             "VALUES (:id, :u, :e, 'x', 'user', 'active', :t, :t, 0)"),
                     [{"id": i + 1, "u": f"reader{i}", "e": f"reader{i}@example.com", "t": now}
                      for i in range(n)])
        items = [{"u": i + 1, "p": p, "t": now} for i in range(n) for p in rng.sample(recent, 8)]
        conn.execute(sa.text("INSERT INTO library_items (user_id, paper, tags, source, added_at) "
                             "VALUES (:u, :p, '[]', 'manual', :t)"), items)
        conn.execute(sa.text("INSERT INTO library_versions (user_id, version) VALUES (:u, 1)"),
                     [{"u": i + 1} for i in range(n)])
        conn.execute(sa.text("UPDATE subscriptions SET user_id = (SELECT id FROM users "
                             "WHERE users.email = subscriptions.email)"))


def make_subscribers(engine: sa.Engine, n: int, seed: int = 7, for_you: float = 0.0) -> int:
    """Replace all subscribers by `n` seeded ones; return how many distinct saved searches they hold.
    A `for_you` fraction of them also ask for the personal section."""
    with engine.begin() as conn:
        # By name: the baseline version's schema module may lack the newer tables.
        tables = set(sa.inspect(conn).get_table_names())
        for table in ("mail_sent_papers", "mail_outbox_bodies", "mail_outbox", "subscriptions"):
            if table in tables:
                conn.execute(sa.text(f"DELETE FROM {table}"))
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
        personal = i < n * for_you
        choice = DigestChoice(trending, categories, searches, personal)
        rows.append((f"reader{i}@example.com", "weekly", choice))
    for i in range(0, n, 2000):
        add_subscriptions_bulk(engine, rows[i:i + 2000])  # type: ignore[arg-type]
    return len(used)


def compare(args: argparse.Namespace, home: Path) -> None:
    """Run the baseline and this version alternately in child processes; print both side by side."""
    ensure_corpus(home, args.file, args.bm25_index)
    base = [sys.executable, str(Path(__file__).resolve()), "--file", str(args.file),
            "--subscribers", str(args.subscribers), "--json"]
    if not args.bm25_index:
        base.append("--no-bm25-index")
    if args.connections is not None:
        base += ["--connections", str(args.connections)]
    variants: list[tuple[str, str | None, Path]] = []
    for spec in args.baseline_src:
        label, _, src = spec.rpartition("=")
        variants.append((label or "baseline", src, args.baseline_home or home))
    variants.append(("current", None, home))
    width = max(len(label) for label, _, _ in variants)
    rows: list[dict[str, Any]] = []
    for n in range(args.rounds):
        for label, src, where in variants:
            env = dict(os.environ)
            if src is not None:
                env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
            out = subprocess.run([*base, "--home", str(where)], env=env, check=True, capture_output=True,
                                 text=True).stdout
            r = json.loads(out.strip().splitlines()[-1])
            print(f"round {n + 1} {label:{width}s}: {r['seconds']:6.1f} s, {r['rate']:5.0f} messages/s, "
                  f"composed {r['composed']} at {r['compose_seconds']:.1f} s, sent {r['sent']}, "
                  f"CPU s paperscope {r['cpu']:.1f} / SMTP server {r['server_cpu']:.1f}, "
                  f"peak RSS {r['peak_mb']:.0f} MB, {r['kb']:.1f} KB and {r['lines']:.0f} lines "
                  f"per message, load {r['load_before']:.1f} -> {r['load_after']:.1f}", flush=True)
            rows.append({"round": n + 1, "version": label, **_record_row(r)})
    save_record("digests", rows, title=f"{args.subscribers:,} subscribers: digests composed and accepted "
                "by a local SMTP server, versions run alternately.")


def _record_row(r: dict[str, Any]) -> dict[str, Any]:
    return {"seconds": round(r["seconds"], 1), "messages_per_s": round(r["rate"]), "composed": r["composed"],
            "composed_at_s": round(r["compose_seconds"], 1), "sent": r["sent"],
            "paperscope_cpu_s": round(r["cpu"], 1), "smtp_server_cpu_s": round(r["server_cpu"], 1),
            "peak_rss_mb": round(r["peak_mb"]), "kb_per_message": round(r["kb"], 1),
            "lines_per_message": round(r["lines"]), "load_before": round(r["load_before"], 1),
            "load_after": round(r["load_after"], 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--subscribers", type=int, default=10000)
    ap.add_argument("--home", type=Path, default=None, help="reuse this home (ingested once)")
    ap.add_argument("--file", type=Path, default=DEFAULT_FILE)
    ap.add_argument("--connections", type=int, default=None,
                    help="SMTP sessions at once (default: the smtp_connections setting)")
    ap.add_argument("--baseline-src", action="append", default=[], metavar="[LABEL=]DIR",
                    help="also run the version whose src/ folder is here, alternately with this one "
                         "(repeat for several versions)")
    ap.add_argument("--baseline-home", type=Path, default=None,
                    help="with --baseline-src: the baseline's own home (default: --home)")
    ap.add_argument("--rounds", type=int, default=2, help="with --baseline-src: runs of each version")
    ap.add_argument("--json", action="store_true", help="end with one JSON line of results")
    ap.add_argument("--for-you", type=float, default=0.0, metavar="FRACTION",
                    help="this fraction of subscribers are accounts with a library and For you")
    ap.add_argument("--cold", action="store_true",
                    help="with --for-you: drop the trained models first (every one is trained in the run)")
    ap.add_argument("--no-bm25-index", dest="bm25_index", action="store_false",
                    help="do not build the in-memory BM25 index in a home that lacks it")
    args = ap.parse_args()
    if not args.file.exists():
        sys.exit(f"snapshot not found: {args.file}")
    home = args.home or Path(tempfile.mkdtemp(prefix="paperscope-digests-"))
    if args.baseline_src:
        compare(args, home)
        return
    engine = ensure_corpus(home, args.file, args.bm25_index)
    distinct = make_subscribers(engine, args.subscribers, for_you=args.for_you)
    if args.for_you > 0:
        recent = ensure_vectors(engine, Settings(home=home))
        add_accounts(engine, args.subscribers, recent)
        if args.cold:  # models trained by an earlier run make a run faster than a first digest
            for cached in (home / "cache" / "foryou").glob("*.npz"):
                cached.unlink()

    port = free_port()
    ctx = mp.get_context("spawn")
    ready, count, sink_cpu = ctx.Event(), ctx.Value("i", 0), ctx.Value("d", 0.0)
    received = ctx.Array("d", 2, lock=False)  # written under `count`'s lock
    server = ctx.Process(target=smtp_sink, args=(port, ready, count, sink_cpu, received), daemon=True)
    server.start()
    ready.wait(30)
    options: dict[str, Any] = {} if args.connections is None else {"smtp_connections": args.connections}
    settings = Settings(home=home, smtp_host="127.0.0.1", smtp_port=port,
                        mail_from="paperscope <digest@example.org>", base_url="https://papers.example.org",
                        **options)
    try:
        load_before = os.getloadavg()[0]
        c0 = time.process_time()
        report = run_cycle(engine, settings, trending=trending_fetch(engine), now=utcnow(),
                           for_you=digest_picks if args.for_you > 0 else None)
        cpu = time.process_time() - c0
        load_after = os.getloadavg()[0]
    finally:
        server.terminate()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    composed, delivered = report.compose, report.delivery
    rate = delivered.sent / report.seconds if report.seconds else 0.0
    print(f"papers {count_papers(engine)}, subscribers {args.subscribers} "
          f"({args.for_you:.0%} with For you), "
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
    kb = received[0] / max(count.value, 1) / 1024
    lines = received[1] / max(count.value, 1)
    result = {"seconds": report.seconds, "rate": rate, "composed": composed.composed,
              "compose_seconds": report.compose_seconds, "sent": delivered.sent,
              "server_count": count.value, "cpu": cpu, "server_cpu": sink_cpu.value,
              "peak_mb": peak_mb, "kb": kb, "lines": lines, "connections": settings.smtp_connections,
              "load_before": load_before, "load_after": load_after}
    if args.json:  # a child of `compare`, which records the rounds itself
        print(json.dumps(result))
    else:
        save_record("digests", [{"version": "current", **_record_row(result)}],
                    title=f"{args.subscribers:,} subscribers: digests composed and accepted by a local SMTP "
                          f"server ({settings.smtp_connections} connections).")


if __name__ == "__main__":
    main()
