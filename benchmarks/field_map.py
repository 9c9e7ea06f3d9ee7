"""The map of the field at full size: layout time and peak RSS of `paperscope map`, the page's weight,
how fast the points are served, and time to the first drawn map in Chromium (tests/support/browser.py).

    .venv/bin/python benchmarks/field_map.py [--papers 0] [--workdir DIR] [--method auto]

Stores the shared arXiv snapshot (all 74.7k papers with --papers 0) and gives every paper a pooled vector
in a real pooled HNSW index. Encoding 74.7k papers takes ~50 min on 2 cores, so the vectors are
*lexical stand-ins*: TF-IDF over title + abstract words, randomly projected to 384 dimensions and
normalised. They carry real topical structure (so regions and labels mean something) and cost the
layout exactly what model vectors of the same shape cost. Then `paperscope map` runs as a child
process (wall time and its peak RSS), the app serves the stored map (p50 of /api/map/points.bin,
sizes), and headless Chromium opens /map (first contentful paint, time until the map is drawn).
"""

from __future__ import annotations

import argparse
import gzip
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import httpx  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository: tests.support
from tests.support.browser import chromium  # noqa: E402
from tests.support.web_data import live_server  # noqa: E402

import paperscope.embed  # noqa: E402, F401  (onnxruntime before usearch: the other order segfaults)
from paperscope.feed.map_layout import tokens  # noqa: E402
from paperscope.index.ann import AnnIndex  # noqa: E402
from paperscope.index.build import IndexLayout  # noqa: E402
from paperscope.search.metrics import percentile  # noqa: E402
from paperscope.settings import Settings  # noqa: E402
from paperscope.sources.jsonl import JsonlSource  # noqa: E402
from paperscope.store import count_papers, ingest_records, iter_papers, open_database  # noqa: E402
from paperscope.web.app import create_app  # noqa: E402
from paperscope.web.app_state import app_state  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from record import save_record  # noqa: E402

ARXIV = Path(__file__).resolve().parents[2] / "shared" / "data" / "arxiv-2025-2026.jsonl.gz"
DIM = 384


def lexical_vectors(docs: list[set[str]], seed: int = 0) -> np.ndarray:
    """TF-IDF bags of words, randomly projected to DIM dimensions, L2-normalised."""
    import scipy.sparse as sp

    vocab: dict[str, int] = {}
    rows, cols = [], []
    for i, doc in enumerate(docs):
        for term in doc:
            rows.append(i)
            cols.append(vocab.setdefault(term, len(vocab)))
    ones = np.ones(len(rows), dtype=np.float32)
    matrix = sp.csr_matrix((ones, (rows, cols)), shape=(len(docs), len(vocab)))
    df = np.asarray((matrix > 0).sum(axis=0)).ravel()
    idf = np.log(len(docs) / np.maximum(df, 1)).astype(np.float32)
    projection = np.random.default_rng(seed).standard_normal((len(vocab), DIM)).astype(np.float32)
    dense = np.asarray(matrix.multiply(idf[None, :]).tocsr() @ projection, dtype=np.float32)
    norms = np.linalg.norm(dense, axis=1, keepdims=True)
    return dense / np.where(norms > 0, norms, 1.0)


def build_pooled(engine: object, settings: Settings) -> int:
    layout = IndexLayout(settings.index_dir)
    if layout.pooled.is_file():
        return len(AnnIndex.open(layout.pooled))
    keys, docs = [], []
    for batch in iter_papers(engine, batch_size=2000):  # type: ignore[arg-type]
        for p in batch:
            keys.append(p.rowid)
            docs.append(tokens(f"{p.title} {p.title} {p.abstract}"))
    started = time.perf_counter()
    vectors = lexical_vectors(docs)
    ann = AnnIndex.create(layout.pooled, DIM, "f16")
    ann.add(np.asarray(keys, dtype=np.int64), vectors)
    ann.save()
    print(f"stand-in pooled index: {len(keys)} vectors in {time.perf_counter() - started:.0f}s", flush=True)
    return len(keys)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--papers", type=int, default=0, help="0 = the whole snapshot")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/paperscope-bench-map"))
    parser.add_argument("--method", default="auto")
    args = parser.parse_args()
    settings = Settings(home=args.workdir / "home", database_url=f"sqlite:///{args.workdir / 'p.db'}")
    settings.ensure_home()
    engine = open_database(settings.db_url)
    if count_papers(engine) == 0:
        ingest_records(engine, JsonlSource(ARXIV, limit=args.papers or None))
    n = build_pooled(engine, settings)
    engine.dispose()

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "paperscope", "--home", str(settings.home), "--database-url",
                    settings.db_url, "map", "--method", args.method], check=True, env=env)
    wall = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"paperscope map: {n} papers in {wall:.0f}s wall, child peak RSS {peak_mb:.0f} MB")

    app = create_app(settings, cache_seconds=0)
    with live_server(app) as url, httpx.Client(base_url=url, timeout=60) as http:
        meta = http.get("/map?format=json").json()
        html = http.get("/map").text
        js = http.get("/static/map.js").text
        timings = []
        for _ in range(21):
            t0 = time.perf_counter()
            r = http.get(meta["points_url"], headers={"Accept-Encoding": "gzip"})
            timings.append((time.perf_counter() - t0) * 1000)
        raw = r.content
        print(f"points: {len(raw)} bytes ({len(gzip.compress(raw))} gzipped); /map HTML {len(html)} bytes; "
              f"map.js {len(js)} bytes; /api/map/points.bin p50 {percentile(timings[1:], 50):.1f} ms "
              f"(first, with the load: {timings[0]:.0f} ms)")
        print(f"regions: {', '.join(r['label'] for r in meta['regions'][:12])} ...")
        paint_ms, ready_ms = first_paint(url)
        print(f"Chromium: first contentful paint {paint_ms:.0f} ms, map drawn {ready_ms:.0f} ms "
              "after navigation")
        save_record("field_map", [
            {"measure": "papers laid out", "value": n},
            {"measure": "`paperscope map` wall s", "value": round(wall)},
            {"measure": "its peak RSS (MB)", "value": round(peak_mb)},
            {"measure": "points payload (bytes, gzipped)",
             "value": f"{len(raw)} ({len(gzip.compress(raw))})"},
            {"measure": "points served p50 ms", "value": round(percentile(timings[1:], 50), 1)},
            {"measure": "Chromium first contentful paint / map drawn (ms)",
             "value": f"{paint_ms:.0f} / {ready_ms:.0f}"},
        ], title="Map of the field: layout, payload, serving, first paint")
    app_state(app).engine.dispose()


def first_paint(url: str) -> tuple[float, float]:
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.goto(f"{url}/map")
        page.wait_for_selector("#field-map[data-ready='true']", timeout=120000)
        ready = float(page.evaluate("performance.now()"))
        paint = float(page.evaluate(
            "performance.getEntriesByName('first-contentful-paint')[0]?.startTime || 0"))
        shots = Path(__file__).resolve().parents[1] / "test-artifacts" / "screenshots"
        shots.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shots / "map-74k.png"))
    return paint, ready


if __name__ == "__main__":
    main()
