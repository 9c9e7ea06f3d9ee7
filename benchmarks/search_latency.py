"""Warm query latency per mode on the arXiv index, against exact brute-force MaxSim over every paper.

    .venv/bin/python benchmarks/search_latency.py [--papers 10000] [--queries 200] [--workdir DIR]
        [--encode N --scale-to-store]

Stores the first --papers papers of the shared arXiv snapshot and indexes them (store + indexes kept in
--workdir and reused), then asks --queries natural-language queries: the titles of papers *after* the
stored ones, so no query is a copy of an indexed text.

Encoding the whole 74.5k-paper snapshot takes ~45-55 min on 2 cores with AVX-512 VNNI (25-30
papers/s) and over two hours without (about 9 papers/s), so `--encode N` can encode only the first N
papers for real and `--scale-to-store` fills the vector indexes up
to every stored paper with stand-ins: each unencoded paper gets the token vectors of a random encoded
paper (decompressed from the token store, back in 384 dimensions) plus Gaussian noise (cosine ~0.9 to
the original, so no two are identical), its pooled vector the normalised mean of those. They go through
the normal `IndexSet.add`, so index sizes, token counts and therefore search cost are those of a full
index; BM25 is always real over all stored papers. Quality figures are meaningless for the stand-ins;
late mode's recall@10 is still measured against brute force over the same (partly synthetic) index.

An index built before token pooling gets a pooled copy (`<home>-pool2`, TokenStore.copy_pooled, no
re-encoding), and the old defaults (every token; hybrid re-ranks 100 + 100 late candidates) are timed beside
the new ones (tokens pooled by 2; hybrid 50 + 50), interleaved query by query.

Every query runs once to warm up, then is timed per mode; encoding is timed separately so figures are
reported with and without it. Brute force scores every indexed paper with exact MaxSim; late mode's
recall@10 is measured against it.
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import time
from dataclasses import replace
from pathlib import Path

# As the `paperscope` command does: multi-threaded OpenBLAS spin-waits on small query-time products.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from record import save_record

from paperscope.embed import Encoded, OnnxEncoder, load_encoder
from paperscope.embed.bundled import bundled_spec
from paperscope.index.build import IndexLayout, IndexSet, Manifest, build_index, build_lexical
from paperscope.index.tokens import TokenStore
from paperscope.search import SearchEngine
from paperscope.search.engine import SearchConfig
from paperscope.search.metrics import percentile
from paperscope.settings import Settings
from paperscope.sources.jsonl import JsonlSource
from paperscope.store import count_papers, ingest_records, iter_papers, open_database
from paperscope.store.indexing import count_papers_after

ARXIV = Path(__file__).resolve().parents[2] / "shared" / "data" / "arxiv-2025-2026.jsonl.gz"


def scale_to_store(engine: object, real_root: Path, root: Path, seed: int = 0) -> int:
    """Copy the real index set to `root` and fill it with stand-in encodings for every stored paper it
    lacks (see the module docstring). Returns how many stand-ins were added; resumable."""
    if not (root / "manifest.json").is_file():
        shutil.rmtree(root, ignore_errors=True)
        shutil.copytree(real_root, root)
    idx = IndexSet.open(root)
    assert idx is not None
    real = np.asarray(sorted(IndexSet.open(real_root).tokens._spans), dtype=np.int64)  # type: ignore[union-attr]
    projection = idx.tokens._projection
    assert projection is not None
    rng = np.random.default_rng(seed)
    added = 0
    for batch in iter_papers(engine, after_rowid=idx.manifest.last_rowid, batch_size=512):  # type: ignore[arg-type]
        encoded = []
        for _ in batch:
            tokens = idx.tokens.get(int(rng.choice(real))) @ projection.T
            tokens = tokens / np.linalg.norm(tokens, axis=1, keepdims=True)
            tokens = tokens + rng.normal(0, 0.5 / np.sqrt(tokens.shape[1]), tokens.shape).astype(np.float32)
            tokens = (tokens / np.linalg.norm(tokens, axis=1, keepdims=True)).astype(np.float32)
            pooled = tokens.mean(axis=0)
            encoded.append(Encoded(pooled=pooled / np.linalg.norm(pooled), tokens=tokens))
        keys = np.asarray([p.rowid for p in batch], dtype=np.int64)
        idx.add(keys, encoded)
        added += len(batch)
        if added % 8192 < 512:
            idx.save(int(keys[-1]))
            print(f"  stand-ins: {added}", flush=True)
    if added:
        idx.save(int(keys[-1]))
    build_lexical(engine, root)  # type: ignore[arg-type]
    return added


def pooled_copy(root: Path, dst: Path, factor: int) -> None:
    """The index set under `root` with its token store pooled by `factor` (TokenStore.copy_pooled; the
    ANN files are hard links, read only here). Lets one run time pooled and unpooled re-ranks side by
    side without encoding the corpus twice; skipped when `dst` is already complete."""
    if (dst / "manifest.json").is_file():
        return
    shutil.rmtree(dst, ignore_errors=True)
    dst.mkdir(parents=True)
    for item in root.iterdir():
        if item.name in ("tokens", "manifest.json"):
            continue
        if item.is_dir():
            shutil.copytree(item, dst / item.name, copy_function=os.link)
        else:
            os.link(item, dst / item.name)
    TokenStore.open(root / "tokens").copy_pooled(dst / "tokens", factor)
    manifest = Manifest.read(root / "manifest.json")
    assert manifest is not None
    manifest.spec = replace(manifest.spec, token_pool_factor=factor)
    manifest.write(dst / "manifest.json")  # last: marks the copy complete


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
    args = ap.parse_args()

    settings = Settings(home=args.workdir, database_url="")
    settings.ensure_home()
    engine = open_database(settings.db_url)
    if count_papers(engine) < args.papers:
        ingest_records(engine, JsonlSource(args.data, limit=args.papers))
    encoder = OnnxEncoder(bundled_spec(settings), args.threads) if args.threads else load_encoder(settings)
    manifest = Manifest.read(IndexLayout(settings.index_dir).manifest)
    already = manifest.count if manifest else 0
    target = args.papers if args.encode is None else min(args.encode, args.papers)
    report = build_index(engine, settings.index_dir, encoder, limit=max(0, target - already))
    if report.added:
        print(f"indexed {report.added} papers in {report.seconds:.0f}s ({report.rate:.1f}/s)")
    if args.scale_to_store:
        scaled = Settings(home=args.workdir / "scaled", database_url=settings.db_url)
        scaled.ensure_home()
        manifest = Manifest.read(IndexLayout(scaled.index_dir).manifest)
        if manifest is None or count_papers_after(engine, manifest.last_rowid):
            t = time.perf_counter()
            n = scale_to_store(engine, settings.index_dir, scaled.index_dir)
            print(f"added {n} stand-in encodings in {time.perf_counter() - t:.0f}s")
        real_count = (Manifest.read(IndexLayout(settings.index_dir).manifest) or Manifest(None)).count  # type: ignore[arg-type]
        print(f"vectors: {real_count} real encodings, the rest stand-ins")
        settings = scaled
    later = itertools.islice(JsonlSource(args.data), args.papers, args.papers + args.queries)
    queries = [" ".join(p.title.split()) for p in later if hasattr(p, "title")]

    # An index built before token pooling (pool factor 1) gets a pooled copy, and both are timed side by
    # side: the old defaults (every token, 100 + 100 late candidates in hybrid) against the new ones.
    unpooled: SearchEngine | None = None
    first = SearchEngine(engine, settings, encoder=encoder)
    assert first.indexes is not None
    if first.indexes.tokens.pool_factor == 1:
        unpooled = first
        pooled_home = Settings(home=Path(f"{settings.home}-pool2"), database_url=settings.db_url)
        if not (pooled_home.index_dir / "manifest.json").is_file():
            t = time.perf_counter()
            pooled_copy(settings.index_dir, pooled_home.index_dir, 2)
            print(f"pooled copy of the token store in {time.perf_counter() - t:.0f}s")
        settings = pooled_home
    se = SearchEngine(engine, settings, encoder=encoder)
    idx = se.indexes
    assert idx is not None
    keys = np.asarray([p.rowid for batch in iter_papers(engine, batch_size=5000) for p in batch
                       if p.rowid is not None and p.rowid <= idx.manifest.last_rowid], dtype=np.int64)
    every_token = f", unpooled: {unpooled.indexes.tokens._rows:,}" if unpooled and unpooled.indexes else ""
    print(f"{len(idx.pooled)} papers indexed, {len(queries)} queries, model {encoder.name}, "
          f"token rows {idx.tokens._rows:,} (pool factor {idx.tokens.pool_factor}){every_token}")

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
    if unpooled is not None:
        runs.append(("late, every token", variant(unpooled), "late"))
        runs.append(("hybrid, every token, 100 + 100 (old default)",
                     variant(unpooled, hybrid_late_candidates=100), "hybrid"))
        runs.append(("hybrid, every token, 100 + 100, one thread",
                     variant(unpooled, hybrid_late_candidates=100, threads=1), "hybrid"))
        runs.append(("hybrid, every token, 50 + 50", variant(unpooled), "hybrid"))
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
        ranked = SearchEngine.rerank_maxsim(e, idx, keys.tolist(), 10, se.pool, os.cpu_count() or 1)
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
        variant=f"{len(idx.pooled):,} papers",
        title=f"Warm query latency per mode, {len(idx.pooled):,} papers indexed, {len(queries)} queries.",
        notes=f"Query encoding alone: p50 {percentile(encode_ms, 50):.1f} ms. Late mode "
              f"{percentile(brute, 50) / percentile(late[1], 50):.1f}x faster than brute force (p50), "
              f"recall@10 of brute force {recall:.3f} over {len(brute)} queries.")


if __name__ == "__main__":
    main()
