"""Warm query latency per mode on the arXiv index, against exact brute-force MaxSim over every paper.

    .venv/bin/python benchmarks/search_latency.py [--papers 10000] [--queries 200] [--workdir DIR]
        [--encode N --scale-to-store]

Stores the first --papers papers of the shared arXiv snapshot and indexes them (store + indexes kept in
--workdir and reused), then asks --queries natural-language queries: the titles of papers *after* the
stored ones, so no query is a copy of an indexed text.

Encoding the whole 74.5k-paper snapshot takes ~45-55 min on 2 cores with AVX-512 VNNI (25-30
papers/s) and over two hours without (about 9 papers/s), so `--encode N` can encode only the newest N
papers for real and `--scale-to-store` gives every other stored paper a stand-in embedding in the store
(benchmarks/standins.py: a random encoded paper's stored vectors plus noise), from which the index is
brought up to date as usual. Index sizes, token counts and therefore search cost are those of a full
index; BM25 is always real over all stored papers. Quality figures are meaningless for the stand-ins;
late mode's recall@10 is still measured against brute force over the same (partly synthetic) index.

Every query runs once to warm up, then is timed per mode; encoding is timed separately so figures are
reported with and without it. Brute force scores every indexed paper with exact MaxSim; late mode's
recall@10 is measured against it.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

# As the `paperscope` command does: multi-threaded OpenBLAS spin-waits on small query-time products.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from record import save_record

from paperscope.embed import OnnxEncoder, load_encoder
from paperscope.embed.bundled import bundled_spec, encoder_identity
from paperscope.index.build import build_index
from paperscope.index.embedder import current_model
from paperscope.index.sync import IndexSync
from paperscope.search import SearchEngine
from paperscope.search.engine import SearchConfig
from paperscope.search.metrics import percentile
from paperscope.settings import Settings
from paperscope.sources.jsonl import JsonlSource
from paperscope.store import count_papers, ingest_records, open_database
from paperscope.store.embeddings import count_embeddings

sys.path.insert(0, str(Path(__file__).parent))
from standins import fill_with_standins  # noqa: E402

ARXIV = Path(__file__).resolve().parents[2] / "shared" / "data" / "arxiv-2025-2026.jsonl.gz"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--papers", type=int, default=10000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--data", type=Path, default=ARXIV)
    ap.add_argument("--threads", type=int, default=0,
                    help="encoder threads (default: one per core; 1 is faster on an overloaded machine)")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/paperscope-arxiv"))
    ap.add_argument("--encode", type=int, default=None, help="encode only the first N stored papers")
    ap.add_argument("--scale-to-store", action="store_true",
                    help="fill the vector indexes with stand-ins up to every stored paper (see above)")
    ap.add_argument("--brute-queries", type=int, default=None,
                    help="run brute force for only the first N queries (it takes seconds per query at 74.5k)")
    ap.add_argument("--model-dir", type=Path, help="a user model directory (PAPERSCOPE_MODEL) instead of the "
                    "bundled MiniLM; give it its own --workdir")
    ap.add_argument("--tag", default="", help="added to the record's variant (keeps a comparison run apart)")
    args = ap.parse_args()

    settings = Settings(home=args.workdir, database_url="")
    if args.model_dir:
        settings = settings.model_copy(update={"model": str(args.model_dir)})
    settings.ensure_home()
    engine = open_database(settings.db_url)
    if count_papers(engine) < args.papers:
        ingest_records(engine, JsonlSource(args.data, limit=args.papers))
    if args.threads and not args.model_dir:
        encoder = OnnxEncoder(bundled_spec(settings), args.threads)
        encoder.identity = encoder_identity(settings)
    else:
        encoder = load_encoder(settings)
    model = current_model(engine, encoder_identity(settings))
    already = count_embeddings(engine, model.id) if model is not None else 0
    target = args.papers if args.encode is None else min(args.encode, args.papers)
    report = build_index(engine, settings.index_dir, encoder, limit=max(0, target - already))
    if report.added:
        print(f"indexed {report.added} papers in {report.seconds:.0f}s ({report.rate:.1f}/s)")
    if args.scale_to_store:
        model = current_model(engine, encoder_identity(settings))
        assert model is not None
        t = time.perf_counter()
        n = fill_with_standins(engine, model)
        IndexSync(engine, settings.index_dir).run(model)
        print(f"added {n} stand-in embeddings in {time.perf_counter() - t:.0f}s; the newest {target} "
              "papers are real encodings")
    later = itertools.islice(JsonlSource(args.data), args.papers, args.papers + args.queries)
    queries = [" ".join(p.title.split()) for p in later if hasattr(p, "title")]

    se = SearchEngine(engine, settings, encoder=encoder)
    idx = se.indexes
    assert idx is not None
    keys = np.asarray(sorted(idx.tokens._spans), dtype=np.int64)
    print(f"{len(idx.pooled)} papers indexed, {len(queries)} queries, model {encoder.name}, "
          f"token rows {idx.tokens._rows:,} (pool factor {idx.tokens.pool_factor})")

    encode_ms, encoded = [], []
    for q in queries:
        se.encode_query(q)  # warm
        t = time.perf_counter()
        encoded.append(se.encode_query(q))
        encode_ms.append((time.perf_counter() - t) * 1000)

    rows = []
    late_top: list[list[int]] = []

    def variant(home: SearchEngine, **config: object) -> SearchEngine:
        # One copy of each index set for every variant (benchmark-only use of private holders): separate
        # copies, interleaved query by query, would each find the CPU caches full of another's data.
        out = SearchEngine(engine, settings, encoder=encoder, config=replace(SearchConfig(), **config))
        out._indexes, out._lexical = home._indexes, se._lexical
        return out

    runs = [(m, se, m) for m in ("bm25", "dense", "late", "hybrid")]
    runs.append(("late, one thread", variant(se, threads=1), "late"))
    runs.append(("hybrid, one thread", variant(se, threads=1), "hybrid"))
    runs.append(("hybrid, 100 + 100 late candidates", variant(se, hybrid_late_candidates=100), "hybrid"))
    # Interleaved: every variant answers query i before any answers query i + 1, so a burst of other
    # work on the machine hits all variants alike.
    times: dict[str, list[float]] = {label: [] for label, _, _ in runs}
    for q, e in zip(queries, encoded, strict=True):
        for label, searcher, mode in runs:
            searcher.search(q, mode=mode, k=10, encoded=e)  # type: ignore[arg-type]  # warm
            t = time.perf_counter()
            hits = searcher.search(q, mode=mode, k=10, encoded=e).hits  # type: ignore[arg-type]
            times[label].append((time.perf_counter() - t) * 1000)
            if label == "late":
                late_top.append([h.rowid for h in hits])
    for label, _, mode in runs:
        excl = times[label]
        with_enc = excl if mode == "bm25" else [a + b for a, b in zip(excl, encode_ms, strict=True)]
        rows.append((label, excl, with_enc))

    brute, brute_top = [], []
    for e in encoded[:args.brute_queries]:
        t = time.perf_counter()
        ranked = se.retriever.late(e.tokens, keys.tolist(), 10, idx=idx)
        brute.append((time.perf_counter() - t) * 1000)
        brute_top.append(ranked.ids)
    rows.append(("exact MaxSim, brute force", brute, [a + b for a, b in zip(brute, encode_ms, strict=False)]))
    recall = np.mean([len(set(a) & set(b)) / max(1, len(b))
                      for a, b in zip(late_top, brute_top, strict=False)])

    print("| mode | p50 ms excl. encoding | p99 ms excl. encoding | p50 ms incl. | p99 ms incl. |")
    print("|---|---|---|---|---|")
    for mode, excl, incl in rows:
        print(f"| {mode} | {percentile(excl, 50):.1f} | {percentile(excl, 99):.1f} | "
              f"{percentile(incl, 50):.1f} | {percentile(incl, 99):.1f} |")
    late = next(r for r in rows if r[0] == "late")
    print(f"query encoding alone: p50 {percentile(encode_ms, 50):.1f} ms, "
          f"p99 {percentile(encode_ms, 99):.1f} ms")
    print(f"late mode vs brute force: {percentile(brute, 50) / percentile(late[1], 50):.1f}x faster (p50, "
          f"excl. encoding), recall@10 of brute force {recall:.3f} over {len(brute)} queries")
    save_record("search_latency", [
        {"mode": mode, "p50_ms_excl_encoding": round(percentile(excl, 50), 1),
         "p99_ms_excl": round(percentile(excl, 99), 1),
         "p50_ms_incl_encoding": round(percentile(incl, 50), 1),
         "p99_ms_incl": round(percentile(incl, 99), 1)} for mode, excl, incl in rows],
        variant=f"{len(idx.pooled):,} papers" + (f", model {encoder.name}" if args.model_dir else "")
        + (f", {args.tag}" if args.tag else ""),
        title=f"Warm query latency per mode, {len(idx.pooled):,} papers indexed, {len(queries)} queries.",
        notes=f"Query encoding alone: p50 {percentile(encode_ms, 50):.1f} ms. Late mode "
              f"{percentile(brute, 50) / percentile(late[1], 50):.1f}x faster than brute force (p50), "
              f"recall@10 of brute force {recall:.3f} over {len(brute)} queries.")


if __name__ == "__main__":
    main()
