"""Catch-up latency between servers on one PostgreSQL: a stored embedding -> in another server's index.

    .venv/bin/python benchmarks/catchup.py [--papers 10000] [--singles 20] [--batches 3]

Starts a throwaway PostgreSQL (as the tests do), stores the first --papers snapshot papers with
embeddings (the newest 300 encoded for real, the rest stand-ins: benchmarks/standins.py), then starts one
`paperscope serve --no-embed` with its own home; it builds its index from the store. Then, timed from the
commit of the embedding to the moment that server's index manifest holds it (polled every 5 ms):
--singles papers one at a time, and --batches batches of 1,000 papers in one transaction each.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).parent))
from record import save_record  # noqa: E402
from standins import fill_with_standins  # noqa: E402
from tests.pg import start_pg  # noqa: E402

from paperscope.embed import load_encoder  # noqa: E402
from paperscope.index.embedder import Embedder, resolve_model  # noqa: E402
from paperscope.index.indexset import IndexLayout, Manifest  # noqa: E402
from paperscope.model import Paper  # noqa: E402
from paperscope.search.metrics import percentile  # noqa: E402
from paperscope.settings import Settings  # noqa: E402
from paperscope.sources.jsonl import JsonlSource  # noqa: E402
from paperscope.store import ingest_records, open_database, upsert_papers  # noqa: E402

ARXIV = Path(__file__).resolve().parents[2] / "shared" / "data" / "arxiv-2025-2026.jsonl.gz"


def indexed(home: Path) -> int:
    manifest = Manifest.read(IndexLayout(home / "index").manifest)
    return manifest.count if manifest is not None else 0


def wait_count(home: Path, target: int, timeout: float = 120) -> float:
    start = time.perf_counter()
    while indexed(home) < target:
        if time.perf_counter() - start > timeout:
            raise SystemExit(f"index of {home} stuck at {indexed(home)} < {target}")
        time.sleep(0.005)
    return time.perf_counter() - start


def new_papers(n: int, start: int) -> list[Paper]:
    return [Paper(arxiv_id=f"2699.{start + i:05d}", title=f"Catch-up probe {start + i}",
                  abstract="A paper stored to time how fast another server finds it.", categories=("cs.IR",),
                  listed=date(2026, 12, 31), source="bench") for i in range(n)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--papers", type=int, default=10000)
    ap.add_argument("--singles", type=int, default=20)
    ap.add_argument("--batches", type=int, default=3)
    ap.add_argument("--data", type=Path, default=ARXIV)
    args = ap.parse_args()
    server = start_pg()
    assert server is not None, "PostgreSQL server binaries not found"
    work = Path(tempfile.mkdtemp(prefix="paperscope-catchup-"))
    proc = None
    try:
        admin = sa.create_engine(server.base_url + "/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text("CREATE DATABASE catchup"))
        url = server.base_url + "/catchup"
        engine = open_database(url)
        ingest_records(engine, JsonlSource(args.data, limit=args.papers))
        encoder = load_encoder(Settings(home=work / "embedder"))
        embedder = Embedder(engine, encoder, resolve_model(engine, encoder.identity, encoder.dim))  # type: ignore[arg-type]
        embedder.run(limit=300)
        model = embedder.model
        fill_with_standins(engine, model)
        home = work / "b"
        home.mkdir()
        env = {**os.environ, "PAPERSCOPE_HOME": str(home), "PAPERSCOPE_DATABASE_URL": url,
               "PAPERSCOPE_INDEX_POLL_SECONDS": "1.0"}
        proc = subprocess.Popen([sys.executable, "-m", "paperscope", "serve", "--no-embed", "--workers", "1",
                                 "--port", "18766", "--log-level", "warning"], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        first_build = wait_count(home, args.papers, timeout=600)
        singles = []
        for i in range(args.singles):
            upsert_papers(engine, new_papers(1, i))
            target = indexed(home) + 1
            fill_with_standins(engine, model, seed=i + 1)
            singles.append(wait_count(home, target) * 1000)
            time.sleep(0.3)
        batches = []
        for b in range(args.batches):
            upsert_papers(engine, new_papers(1000, 1000 * (b + 1)))
            target = indexed(home) + 1000
            fill_with_standins(engine, model, seed=100 + b)  # one transaction for the 1,000
            batches.append(wait_count(home, target))
        figures = {
            "papers": args.papers, "first_build_from_store_s": round(first_build, 1),
            "single_p50_ms": round(percentile(singles, 50)), "single_p99_ms": round(percentile(singles, 99)),
            "batch_1000_s": [round(b, 2) for b in batches], "poll_seconds": 1.0,
            "load": os.getloadavg()}
        print(json.dumps(figures, indent=1))
        save_record("catchup", [
            {"measure": "a new server builds its index from the store (s)",
             "value": figures["first_build_from_store_s"]},
            {"measure": f"single paper: commit -> other server's index, p50 / p99 ms ({args.singles} papers)",
             "value": f"{figures['single_p50_ms']} / {figures['single_p99_ms']}"},
            {"measure": "1,000 papers in one transaction -> other server's index (s, each run)",
             "value": ", ".join(str(b) for b in figures["batch_1000_s"])},
            {"measure": "poll interval (s)", "value": 1.0},
        ], title="Catch-up between two servers on one PostgreSQL (no model on the catching-up side)",
            variant=f"{args.papers} papers")
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(30)
        server.stop()


if __name__ == "__main__":
    main()
