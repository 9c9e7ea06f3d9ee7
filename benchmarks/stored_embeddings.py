"""Vectors are data: rebuild time, disk, search latency while embedding, time to the first semantic result.

    .venv/bin/python benchmarks/stored_embeddings.py [--workdir /tmp/paperscope-vectors] [--encode 2000]
        [--queries 200] [--skip-first-result]

1. Stores the shared arXiv snapshot (SQLite), encodes the newest --encode papers for real and gives every
   other paper a stand-in embedding in the store (benchmarks/standins.py); disk of the store before and
   after, and of the index folder.
2. Rebuild: `paperscope index --rebuild` (BM25 + every vector index from the stored embeddings, no model)
   as a child process: wall time and its peak RSS.
3. Search latency, hybrid (query encoding included), with the background embedder (the web server's
   IndexMaintainer, same process, as `paperscope serve` runs it) stopped / running / stopped again, the
   store lacking embeddings for the newest --unembedded papers so that it has work.
4. Time to the first semantic result on a new home: `ingest jsonl`, `index --lexical-only`, `serve`, then
   /api/search in dense mode until a result comes from the vector index.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import httpx  # noqa: E402
import numpy as np  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from paperscope.embed import load_encoder  # noqa: E402
from paperscope.index.embedder import Embedder, resolve_model  # noqa: E402
from paperscope.index.maintainer import IndexMaintainer  # noqa: E402
from paperscope.search import SearchEngine  # noqa: E402
from paperscope.search.metrics import percentile  # noqa: E402
from paperscope.settings import Settings  # noqa: E402
from paperscope.sources.jsonl import JsonlSource  # noqa: E402
from paperscope.store import count_papers, ingest_records, open_database  # noqa: E402
from paperscope.store.embeddings import count_embeddings  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from record import save_record  # noqa: E402
from standins import fill_with_standins  # noqa: E402

ARXIV = Path(__file__).resolve().parents[2] / "shared" / "data" / "arxiv-2025-2026.jsonl.gz"
CLI = [sys.executable, "-m", "paperscope"]


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.exists() else 0


def db_bytes(settings: Settings) -> int:
    return sum(p.stat().st_size for p in settings.home.glob("paperscope.db*") if p.is_file())


def compact_sizes(settings: Settings, workdir: Path) -> tuple[int, int]:
    """Bytes of the store compacted (VACUUM INTO a copy), with its embeddings and without them."""
    import sqlite3

    copy = workdir / "compact.db"
    copy.unlink(missing_ok=True)
    with sqlite3.connect(settings.sqlite_path) as conn:
        conn.execute("VACUUM INTO ?", (str(copy),))
    with_emb = copy.stat().st_size
    with sqlite3.connect(copy) as conn:
        conn.execute("DELETE FROM paper_embeddings")
        conn.commit()
        conn.execute("VACUUM")
    without_emb = copy.stat().st_size
    copy.unlink()
    return with_emb, without_emb


def run_child(cmd: list[str], env: dict[str, str]) -> tuple[float, float, float]:
    """Run a command; (wall seconds, CPU seconds, its peak RSS in MB). CPU time is what to compare on a
    machine shared with other work."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"{cmd} failed: {proc.stderr.read().decode() if proc.stderr else ''}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def latency(search: SearchEngine, queries: list[str]) -> list[float]:
    times = []
    for q in queries:
        t = time.perf_counter()
        search.search(q, mode="hybrid", k=10)
        times.append((time.perf_counter() - t) * 1000)
    return times


def first_semantic_result(workdir: Path, data: Path) -> dict[str, float]:
    """`make run`'s steps on a new home, timed until dense search answers from the vector index."""
    home = workdir / "first-minute"
    if home.exists():
        import shutil

        shutil.rmtree(home)
    env = {**os.environ, "PAPERSCOPE_HOME": str(home), "PAPERSCOPE_DATABASE_URL": ""}
    t0 = time.perf_counter()
    subprocess.run([*CLI, "ingest", "jsonl", str(data)], env=env, check=True, capture_output=True)
    t_ingest = time.perf_counter() - t0
    subprocess.run([*CLI, "index", "--lexical-only"], env=env, check=True, capture_output=True)
    t_lexical = time.perf_counter() - t0 - t_ingest
    port = 18765
    t_serve = time.perf_counter()
    proc = subprocess.Popen([*CLI, "serve", "--port", str(port), "--workers", "1", "--log-level", "warning"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    first_page = first_semantic = None
    try:
        while time.perf_counter() - t_serve < 600:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/api/search",
                              params={"q": "large language model reasoning", "mode": "dense"}, timeout=30)
            except httpx.HTTPError:
                time.sleep(0.2)
                continue
            if first_page is None:
                first_page = time.perf_counter() - t_serve
            body = r.json()
            if body.get("mode") == "dense" and body.get("results"):
                first_semantic = time.perf_counter() - t_serve
                break
            time.sleep(0.2)
    finally:
        proc.terminate()
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return {"ingest_s": t_ingest, "lexical_s": t_lexical, "serve_to_first_page_s": first_page or -1,
            "serve_to_first_semantic_s": first_semantic or -1,
            "total_to_first_semantic_s": t_ingest + t_lexical + (first_semantic or 0)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/paperscope-vectors"))
    ap.add_argument("--data", type=Path, default=ARXIV)
    ap.add_argument("--encode", type=int, default=2000)
    ap.add_argument("--unembedded", type=int, default=3000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--skip-first-result", action="store_true")
    args = ap.parse_args()
    figures: dict[str, object] = {}

    settings = Settings(home=args.workdir / "home", database_url="")
    settings.ensure_home()
    engine = open_database(settings.db_url)
    if count_papers(engine) == 0:
        ingest_records(engine, JsonlSource(args.data))
    papers = count_papers(engine)
    with engine.connect() as conn:
        conn.execute(sa.text("PRAGMA wal_checkpoint(TRUNCATE)"))
    encoder = load_encoder(settings)
    model = resolve_model(engine, encoder.identity, encoder.dim)  # type: ignore[arg-type]
    embedder = Embedder(engine, encoder, model)
    real = count_embeddings(engine, model.id)
    if real < args.encode:
        t = time.perf_counter()
        report = embedder.run(limit=args.encode - real)
        print(f"encoded {report.added} papers in {time.perf_counter() - t:.0f}s", flush=True)
    model = embedder.model
    t = time.perf_counter()
    filled = fill_with_standins(engine, model)
    print(f"stand-ins: {filled} in {time.perf_counter() - t:.0f}s", flush=True)
    with engine.connect() as conn:
        conn.execute(sa.text("PRAGMA wal_checkpoint(TRUNCATE)"))
        emb_bytes = conn.execute(sa.text("SELECT sum(length(pooled) + length(tokens)) FROM paper_embeddings")
                                 ).scalar_one()
    with_emb, without_emb = compact_sizes(settings, args.workdir)
    env = {**os.environ, "PAPERSCOPE_HOME": str(settings.home), "PAPERSCOPE_DATABASE_URL": ""}

    load_before = os.getloadavg()[0]
    wall, cpu, rss = run_child([*CLI, "index", "--rebuild"], env)
    index = dir_bytes(settings.index_dir)
    figures.update({"papers": papers, "rebuild_s": round(wall, 1), "rebuild_cpu_s": round(cpu, 1),
                    "rebuild_load_before": load_before, "rebuild_peak_rss_mb": round(rss),
                    "embedding_payload_bytes_per_paper": round(emb_bytes / papers),
                    "store_bytes_with_embeddings": with_emb, "store_bytes_without_embeddings": without_emb,
                    "store_growth_bytes_per_paper": round((with_emb - without_emb) / papers),
                    "index_dir_bytes": index,
                    "footprint_ratio": round((with_emb + index) / (without_emb + index), 3)})
    print(json.dumps(figures, indent=1), flush=True)

    # Search latency with the background embedder stopped / running / stopped.
    with engine.begin() as conn:  # give the embedder work: the newest papers lose their vectors
        conn.execute(sa.text("DELETE FROM paper_embeddings WHERE paper IN (SELECT id FROM papers "
                             "ORDER BY listed DESC, id DESC LIMIT :n)"), {"n": args.unembedded})
    search = SearchEngine(engine, settings, encoder=encoder)
    rng = np.random.default_rng(1)
    with engine.connect() as conn:
        titles = [r[0] for r in conn.execute(sa.text("SELECT title FROM papers"))]
    queries = [titles[i] for i in rng.choice(len(titles), args.queries * 3, replace=False)]
    latency(search, queries[:20])  # warm
    idle1 = latency(search, queries[: args.queries])
    maintainer = IndexMaintainer(engine, settings, embed=True, poll_seconds=1.0)
    maintainer.start()
    time.sleep(5)  # model loaded, first batches running
    busy = latency(search, queries[args.queries: 2 * args.queries])
    maintainer.stop()
    idle2 = latency(search, queries[2 * args.queries:])
    idle = idle1 + idle2
    figures.update({
        "hybrid_idle_p50_ms": round(percentile(idle, 50), 1),
        "hybrid_idle_p99_ms": round(percentile(idle, 99), 1),
        "hybrid_embedding_p50_ms": round(percentile(busy, 50), 1),
        "hybrid_embedding_p99_ms": round(percentile(busy, 99), 1),
        "embedded_while_measuring": maintainer.status.embedded,
    })
    print(json.dumps(figures, indent=1), flush=True)
    if not args.skip_first_result:
        figures.update(first_semantic_result(args.workdir, args.data))
    print(json.dumps(figures, indent=1))
    labels = {
        "rebuild_s": "rebuild of every index from the store (`index --rebuild`), wall s",
        "rebuild_cpu_s": "  its CPU s", "rebuild_peak_rss_mb": "  its peak RSS (MB)",
        "rebuild_load_before": "  load average when it started",
        "embedding_payload_bytes_per_paper": "embedding bytes per paper (pooled f16 + int8 token rows)",
        "store_growth_bytes_per_paper": "store growth per paper (compacted SQLite)",
        "store_bytes_without_embeddings": "store without embeddings (bytes)",
        "store_bytes_with_embeddings": "store with embeddings (bytes)",
        "index_dir_bytes": "index folder (bytes)",
        "footprint_ratio": "single-machine footprint (store + index), with / without stored embeddings",
        "hybrid_idle_p50_ms": "hybrid p50 ms, embedder stopped (encoding included)",
        "hybrid_idle_p99_ms": "hybrid p99 ms, embedder stopped",
        "hybrid_embedding_p50_ms": "hybrid p50 ms, background embedder running",
        "hybrid_embedding_p99_ms": "hybrid p99 ms, background embedder running",
        "embedded_while_measuring": "papers the embedder stored meanwhile",
        "ingest_s": "first minute: `ingest jsonl` (s)",
        "lexical_s": "first minute: `index --lexical-only` (s)",
        "serve_to_first_page_s": "first minute: serve start to first answer (s)",
        "serve_to_first_semantic_s": "first minute: serve start to first dense result (s)",
        "total_to_first_semantic_s": "first minute: new home to first semantic result (s)",
    }
    save_record("stored_embeddings", [{"measure": labels.get(k, k), "value": v} for k, v in figures.items()],
                title="Vectors are data: rebuild from the store, footprint, search while embedding, "
                      "first minute",
                variant=f"{figures.get('papers', 0)} papers",
                notes=f"{args.encode} papers encoded for real, the rest stand-ins (benchmarks/standins.py)")


if __name__ == "__main__":
    main()
