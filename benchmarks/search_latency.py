"""Warm query latency per mode on the arXiv index, against exact brute-force MaxSim over every paper.

    .venv/bin/python benchmarks/search_latency.py [--papers 10000] [--queries 200] [--workdir DIR]

Indexes the first --papers papers of the shared arXiv snapshot (store + indexes kept in --workdir and
reused), then asks --queries natural-language queries: the titles of papers *after* the indexed ones,
so no query is a copy of an indexed text. Every query runs once to warm up, then is timed per mode;
encoding is timed separately so figures are reported with and without it. Brute force scores every
indexed paper with exact MaxSim; late mode's recall@10 is measured against it.
"""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

import numpy as np

from paperscope.embed import OnnxEncoder, load_encoder
from paperscope.embed.bundled import bundled_spec
from paperscope.index.build import IndexLayout, Manifest, build_index
from paperscope.search import SearchEngine
from paperscope.search.metrics import percentile
from paperscope.settings import Settings
from paperscope.sources.jsonl import JsonlSource
from paperscope.store import count_papers, ingest_records, iter_papers, open_database

ARXIV = Path(__file__).resolve().parents[2] / "shared" / "data" / "arxiv-2025-2026.jsonl.gz"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--papers", type=int, default=10000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--data", type=Path, default=ARXIV)
    ap.add_argument("--threads", type=int, default=0,
                    help="encoder threads (default: one per core; 1 is faster on an overloaded machine)")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/paperscope-arxiv"))
    args = ap.parse_args()

    settings = Settings(home=args.workdir, database_url="")
    settings.ensure_home()
    engine = open_database(settings.db_url)
    if count_papers(engine) < args.papers:
        ingest_records(engine, JsonlSource(args.data, limit=args.papers))
    encoder = OnnxEncoder(bundled_spec(settings), args.threads) if args.threads else load_encoder(settings)
    manifest = Manifest.read(IndexLayout(settings.index_dir).manifest)
    already = manifest.count if manifest else 0
    report = build_index(engine, settings.index_dir, encoder, limit=max(0, args.papers - already))
    if report.added:
        print(f"indexed {report.added} papers in {report.seconds:.0f}s ({report.rate:.1f}/s)")
    later = itertools.islice(JsonlSource(args.data), args.papers, args.papers + args.queries)
    queries = [" ".join(p.title.split()) for p in later if hasattr(p, "title")]

    se = SearchEngine(engine, settings, encoder=encoder)
    idx = se.indexes
    assert idx is not None
    keys = np.asarray([p.rowid for batch in iter_papers(engine, batch_size=5000) for p in batch
                       if p.rowid is not None and p.rowid <= idx.manifest.last_rowid], dtype=np.int64)
    print(f"{len(idx.pooled)} papers indexed, {len(queries)} queries, model {encoder.name}")

    encode_ms, encoded = [], []
    for q in queries:
        se.encode_query(q)  # warm
        t = time.perf_counter()
        encoded.append(se.encode_query(q))
        encode_ms.append((time.perf_counter() - t) * 1000)

    rows = []
    late_top: list[list[int]] = []
    for mode in ("bm25", "dense", "late", "hybrid"):
        times = []
        for q, e in zip(queries, encoded, strict=True):
            se.search(q, mode=mode, k=10, encoded=e)  # type: ignore[arg-type]  # warm
            t = time.perf_counter()
            hits = se.search(q, mode=mode, k=10, encoded=e).hits  # type: ignore[arg-type]
            times.append((time.perf_counter() - t) * 1000)
            if mode == "late":
                late_top.append([h.rowid for h in hits])
        with_enc = times if mode == "bm25" else [a + b for a, b in zip(times, encode_ms, strict=True)]
        rows.append((mode, times, with_enc))

    brute, brute_top = [], []
    for e in encoded:
        t = time.perf_counter()
        ranked = SearchEngine.rerank_maxsim(e, idx, keys.tolist(), 10)
        brute.append((time.perf_counter() - t) * 1000)
        brute_top.append(ranked.ids)
    rows.append(("exact MaxSim, brute force", brute, [a + b for a, b in zip(brute, encode_ms, strict=True)]))
    recall = np.mean([len(set(a) & set(b)) / max(1, len(b))
                      for a, b in zip(late_top, brute_top, strict=True)])

    print("| mode | p50 ms excl. encoding | p99 ms excl. encoding | p50 ms incl. | p99 ms incl. |")
    print("|---|---|---|---|---|")
    for mode, excl, incl in rows:
        print(f"| {mode} | {percentile(excl, 50):.1f} | {percentile(excl, 99):.1f} | "
              f"{percentile(incl, 50):.1f} | {percentile(incl, 99):.1f} |")
    late = next(r for r in rows if r[0] == "late")
    print(f"query encoding alone: p50 {percentile(encode_ms, 50):.1f} ms, "
          f"p99 {percentile(encode_ms, 99):.1f} ms")
    print(f"late mode vs brute force: {percentile(brute, 50) / percentile(late[1], 50):.1f}x faster (p50, "
          f"excl. encoding), recall@10 of brute force {recall:.3f}")


if __name__ == "__main__":
    main()
