"""Index scale simulation: the vector indexes filled to 250k, 500k and 1M papers, measured at each size.

    .venv/bin/python benchmarks/scale.py [--sizes 250000,500000,1000000] [--encode 2000] [--queries 40]
        [--workdir /tmp/paperscope-scale]

1. Stores the first --encode papers of the shared arXiv snapshot and encodes them for real (the normal
   embedder: codec fitted, int8 token rows and pooled vectors in the store). Queries are the titles of the
   papers that follow them in the snapshot, so no query is a copy of an indexed text.
2. Grows one index set (index/indexset.py, the code a rebuild runs) with stand-in papers up to each size.
   A stand-in mixes a real paper with one or two of its 20 nearest real neighbours: a random subset of
   their token rows (as many rows as the first paper has), Gaussian noise on every row (relative norm
   --noise), re-quantised with the model's codec; its pooled vector is the rows' weighted mean direction
   plus the same noise. Mixing neighbours gives a dense, topical corpus without 500 noisy copies of one
   paper (which would make the exact top-10 a coin toss between near-duplicates). Build time counts
   only the index work (add + save), measured as CPU seconds and wall; reading the store is measured
   separately by benchmarks/stored_embeddings.py (rebuild of 74.7k papers).
3. At each size, a fresh reader process opens the set as a server does (memory-mapped) and times dense
   mode and late mode (FDE + pooled HNSW candidates re-ranked by exact MaxSim) at several candidate
   depths, recording its peak RSS; after the last size, one batched brute-force pass scores every
   paper with exact MaxSim for every query, which gives late mode's recall@10 at every size and depth.
Quality figures on stand-ins mean nothing; costs and recall of exact MaxSim are the point.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # as the `paperscope` command does

import numpy as np  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from record import save_record  # noqa: E402

# onnxruntime must be loaded before usearch (the other order crashes; see index/pooled_read.py).
from paperscope.embed import load_encoder  # noqa: E402, I001
from paperscope.index.indexset import IndexLayout, IndexSet  # noqa: E402
from paperscope.index.token_codec import TokenCodec  # noqa: E402
from paperscope.store.embeddings import EmbeddingModel, StoredEmbedding  # noqa: E402

ARXIV = Path(__file__).resolve().parents[2] / "shared" / "data" / "arxiv-2025-2026.jsonl.gz"
DEPTHS = (100, 200, 400, 800, 1600, 3200)
CHUNK = 5000


def prepare(workdir: Path, data: Path, n: int, n_queries: int) -> None:
    """Child: encode the first `n` snapshot papers for real into the store and the queries into
    queries.npz (a process of its own, so the encoder's memory is not counted as the index builder's)."""
    import itertools

    from paperscope.index.embedder import Embedder, resolve_model
    from paperscope.sources.jsonl import JsonlSource
    from paperscope.store import count_papers, ingest_records

    settings, engine = open_store(workdir)
    if count_papers(engine) < n:
        ingest_records(engine, JsonlSource(data, limit=n))
    encoder = load_encoder(settings)
    model = resolve_model(engine, encoder.identity, encoder.dim)  # type: ignore[arg-type]
    t = time.perf_counter()
    report = Embedder(engine, encoder, model).run()
    print(f"encoded {report.added} papers in {time.perf_counter() - t:.0f}s", flush=True)
    later = itertools.islice(JsonlSource(data), n, n + n_queries)
    titles = [" ".join(p.title.split()) for p in later if hasattr(p, "title")]
    queries = encoder.encode_queries(titles)
    arrays = {f"p{i}": q.pooled for i, q in enumerate(queries)}
    arrays |= {f"t{i}": q.tokens for i, q in enumerate(queries)}
    np.savez(workdir / "queries.npz", **arrays)  # type: ignore[arg-type]


def open_store(workdir: Path) -> tuple[Any, sa.Engine]:
    from paperscope.settings import Settings
    from paperscope.store import open_database

    settings = Settings(home=workdir / "home", database_url="")
    settings.ensure_home()
    return settings, open_database(settings.db_url)


def real_papers(workdir: Path, data: Path, n: int,
                n_queries: int) -> tuple[EmbeddingModel, list[StoredEmbedding]]:
    """The model row and stored rows of the first `n` snapshot papers, encoded for real (once)."""
    from paperscope.store.embeddings import count_embeddings, embedded_papers, embeddings_of, list_models

    _, engine = open_store(workdir)
    found = list_models(engine)
    if not found or count_embeddings(engine, found[0].id) < n or not (workdir / "queries.npz").is_file():
        subprocess.run([sys.executable, __file__, "--prepare", "--encode", str(n), "--queries",
                        str(n_queries), "--data", str(data), "--workdir", str(workdir)], check=True)
        found = list_models(engine)
    model = found[0]
    return model, embeddings_of(engine, model.id, embedded_papers(engine, model.id))


class StandIns:
    """Stand-in papers made from real ones (see the module docstring); deterministic per seed."""

    def __init__(self, codec: TokenCodec, rows: list[StoredEmbedding], noise: float, seed: int) -> None:
        self.codec = codec
        self.pooled = np.stack([np.frombuffer(r.pooled, np.float16).astype(np.float32) for r in rows])
        self.coords = [codec.decode(np.frombuffer(r.tokens, np.int8)) for r in rows]
        sims = self.pooled @ self.pooled.T
        np.fill_diagonal(sims, -np.inf)
        self.neighbours = np.argsort(-sims, axis=1)[:, :20]
        norms = np.concatenate([np.linalg.norm(c, axis=1) for c in self.coords])
        self.row_sigma = noise * float(norms.mean()) / np.sqrt(codec.reduced_dim)
        self.pooled_sigma = noise / np.sqrt(self.pooled.shape[1])
        self.rng = np.random.default_rng(seed)

    def real(self) -> tuple[np.ndarray, list[np.ndarray]]:
        """The real papers themselves, as the store keeps them."""
        return self.pooled, [self.codec.quantise(c) for c in self.coords]

    def make(self, n: int) -> tuple[np.ndarray, list[np.ndarray]]:
        """`n` new stand-ins: pooled vectors ``(n, dim)`` and int8 token rows."""
        rng, pooled, codes = self.rng, np.empty((n, self.pooled.shape[1]), np.float32), []
        for i in range(n):
            a = int(rng.integers(len(self.coords)))
            parts = [a, *rng.choice(self.neighbours[a], size=int(rng.integers(1, 3)), replace=False)]
            union = np.concatenate([self.coords[p] for p in parts])
            take = np.sort(rng.choice(len(union), size=min(len(union), len(self.coords[a])), replace=False))
            rows = union[take] + rng.normal(0, self.row_sigma, (len(take), union.shape[1])).astype(np.float32)
            codes.append(self.codec.quantise(rows))
            sizes = np.array([len(self.coords[p]) for p in parts], np.float32)
            vec = (sizes / sizes.sum()) @ self.pooled[parts]
            vec = vec / np.linalg.norm(vec) + rng.normal(0, self.pooled_sigma, vec.shape).astype(np.float32)
            pooled[i] = vec / np.linalg.norm(vec)
        return pooled, codes


def rss_mb() -> dict[str, float]:
    """This process's peak and current resident memory, split into anonymous and file-backed pages."""
    status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    mb = {k: int(status[k].split()[0]) / 1024 for k in ("VmHWM", "VmRSS", "RssAnon", "RssFile")}
    return {k: round(v) for k, v in mb.items()}


def measure(root: Path, queries_path: Path, out: Path) -> None:
    """Child: open the index set read-only as a server does, time dense and late mode per depth."""
    from concurrent.futures import ThreadPoolExecutor

    t = time.perf_counter()
    idx = IndexSet.open(root, view=True)
    assert idx is not None
    open_s = time.perf_counter() - t
    stored = np.load(queries_path)
    queries = [(stored[f"p{i}"], stored[f"t{i}"]) for i in range(len(stored.files) // 2)]
    pool, workers = ThreadPoolExecutor(2), 2
    times: dict[str, list[float]] = {"dense": [], **{f"late@{d}": [] for d in DEPTHS}}
    # CPU milliseconds of the whole process (both threads) per query: steadier than wall time on a
    # machine that other work shares.
    cpu: dict[str, list[float]] = {label: [] for label in times}
    tops: dict[str, list[list[int]]] = {f"late@{d}": [] for d in DEPTHS}
    for pooled, tokens in queries:
        fde_query = idx.fde.encode_query(tokens)
        for label in times:
            for attempt in range(2):  # the first run warms caches and pages; the second is timed
                start, start_cpu = time.perf_counter(), time.process_time()
                if label == "dense":
                    keys, _ = idx.pooled.search(pooled, 10, ef=256)
                else:
                    depth = int(label.split("@")[1])
                    fde_keys, _ = idx.fde_ann.search(fde_query, depth, ef=max(256, depth))
                    pooled_keys, _ = idx.pooled.search(pooled, depth, ef=max(256, depth))
                    cand = np.unique(np.concatenate([fde_keys, pooled_keys]))
                    scores = idx.tokens.maxsim(tokens, cand, pool, workers)
                    keys = cand[np.argsort(-scores, kind="stable")[:10]]
                if attempt:
                    times[label].append((time.perf_counter() - start) * 1000)
                    cpu[label].append((time.process_time() - start_cpu) * 1000)
                    if label in tops:
                        tops[label].append(keys.tolist())
    out.write_text(json.dumps({"open_s": open_s, "times": times, "cpu": cpu, "tops": tops, "rss": rss_mb(),
                               "load_avg": os.getloadavg()[0]}))


def brute_force(root: Path, queries_path: Path, sizes: list[int]) -> dict[int, list[list[int]]]:
    """Exact MaxSim top-10 for every query among the first N papers, for each N in `sizes`: one pass
    over every stored token row, all queries at once (keys are 1..N in insertion order)."""
    idx = IndexSet.open(root, view=True)
    assert idx is not None
    stored = np.load(queries_path)
    qs = [idx.tokens.project_query(stored[f"t{i}"]) * idx.tokens._scale_or_raise()
          for i in range(len(stored.files) // 2)]
    qmat = np.concatenate(qs).T.astype(np.float32)  # (reduced_dim, all query tokens)
    bounds = np.cumsum([0] + [len(q) for q in qs[:-1]])
    keys = np.asarray(sorted(idx.tokens._spans), np.int64)[:max(sizes)]
    spans = np.asarray([idx.tokens._spans[int(k)] for k in keys], np.int64)  # (start, count)
    data = idx.tokens._data()
    scores = np.empty((len(keys), len(qs)), np.float32)
    step = 2000
    for lo in range(0, len(keys), step):
        part = spans[lo:lo + step]
        first, last = int(part[0, 0]), int(part[-1, 0] + part[-1, 1])
        assert np.all(part[1:, 0] == part[:-1, 0] + part[:-1, 1]), "token rows not contiguous"
        sims = data[first:last].astype(np.float32) @ qmat
        per_paper = np.maximum.reduceat(sims, part[:, 0] - first, axis=0)
        scores[lo:lo + len(part)] = np.add.reduceat(per_paper, bounds, axis=1)
    out = {}
    for n in sizes:
        top = np.argsort(-scores[:n], axis=0, kind="stable")[:10].T
        out[n] = [keys[t].tolist() for t in top]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="250000,500000,1000000")
    ap.add_argument("--encode", type=int, default=2000)
    ap.add_argument("--queries", type=int, default=40)
    ap.add_argument("--noise", type=float, default=0.3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data", type=Path, default=ARXIV)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/paperscope-scale"))
    ap.add_argument("--measure", nargs=3, type=Path, help=argparse.SUPPRESS)  # child: ROOT QUERIES OUT
    ap.add_argument("--prepare", action="store_true", help=argparse.SUPPRESS)  # child: encode for real
    ap.add_argument("--resume", action="store_true",
                    help="continue from the index a previous run left at one of --sizes")
    args = ap.parse_args()
    if args.measure:
        measure(*args.measure)
        return
    if args.prepare:
        prepare(args.workdir, args.data, args.encode, args.queries)
        return
    sizes = sorted(int(s) for s in args.sizes.split(","))
    model, rows = real_papers(args.workdir, args.data, args.encode, args.queries)
    queries_path = args.workdir / "queries.npz"
    n_queries = len(np.load(queries_path).files) // 2

    from paperscope.index.sync import spec_for

    assert model.codec is not None
    codec = TokenCodec.from_bytes(model.codec)
    layout = IndexLayout(args.workdir / "index")
    opened = IndexSet.open(layout.root) if args.resume else None
    if opened is not None and (args.workdir / f"stage-{opened.manifest.count}.json").is_file():
        idx, count = opened, opened.manifest.count
        done = json.loads((args.workdir / f"stage-{count}.json").read_text())
        build_wall, build_cpu = float(done["build_wall_s"]), float(done["build_cpu_s"])
        # A new seed: the continued run must not repeat the stand-ins already in the index.
        standins = StandIns(codec, rows, args.noise, args.seed + count)
        pending: tuple[np.ndarray, list[np.ndarray]] | None = None
        print(f"resuming at {count:,} papers", flush=True)
    else:
        if layout.vectors.exists():
            import shutil
            shutil.rmtree(layout.vectors)
        idx, count, build_wall, build_cpu = IndexSet.create(layout, spec_for(model), codec), 0, 0.0, 0.0
        standins = StandIns(codec, rows, args.noise, args.seed)
        pending = standins.real()
    make_s = 0.0
    for size in (s for s in sizes if s > count):
        while count < size:
            if pending is None:
                t = time.perf_counter()
                pending = standins.make(min(CHUNK, size - count))
                make_s += time.perf_counter() - t
            pooled, codes = pending
            pending = None
            keys = np.arange(count + 1, count + 1 + len(codes), dtype=np.int64)
            w, c = time.perf_counter(), time.process_time()
            idx.add_embeddings(keys, pooled, codes)
            build_wall += time.perf_counter() - w
            build_cpu += time.process_time() - c
            count += len(codes)
        w, c = time.perf_counter(), time.process_time()
        idx.save(count)
        build_wall += time.perf_counter() - w
        build_cpu += time.process_time() - c
        stage = {"papers": count, "build_wall_s": round(build_wall, 1), "build_cpu_s": round(build_cpu, 1),
                 "builder_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
                 "disk_bytes": idx.disk_bytes(), "build_load_avg": round(os.getloadavg()[0], 2)}
        (args.workdir / f"stage-{size}.json").write_text(json.dumps(stage))
        print(json.dumps(stage), flush=True)
        subprocess.run([sys.executable, __file__, "--measure", str(layout.root), str(queries_path),
                        str(args.workdir / f"measure-{size}.json")], check=True)
    print(f"stand-ins generated in {make_s:.0f}s (not counted in build time)", flush=True)
    table = [stage_row(args.workdir, size) for size in sizes]
    build = [{"papers": r["papers"], "build_cpu_s": r["build_cpu_s"], "build_wall_s": r["build_wall_s"],
              "load_avg": r["build_load_avg"], "builder_peak_rss_mb": r["builder_peak_rss_mb"],
              "disk_gb": round(r["disk_bytes"] / 1e9, 2),
              "disk_bytes_per_paper": r["disk_bytes"] // r["papers"],
              "reader_rss_mb": r["reader_peak_rss_mb"], "reader_anon_mb": r["reader_anon_rss_mb"],
              "reader_file_mb": r["reader_file_rss_mb"]} for r in table]
    queries = [{"papers": r["papers"], "mode": label, "p50_ms": r[f"{label}_p50_ms"],
                "p99_ms": r[f"{label}_p99_ms"], "cpu_p50_ms": r.get(f"{label}_cpu_p50_ms", ""),
                "recall10_of_exact_maxsim": r.get(f"{label}_recall10", ""), "load_avg": r["measure_load_avg"]}
               for r in table for label in ("dense", *(f"late@{d}" for d in DEPTHS))]
    for row in build + queries:
        print(json.dumps(row), flush=True)
    notes = (f"{args.encode} papers encoded for real, the rest stand-ins mixing real neighbours with noise "
             f"{args.noise}; {n_queries} title queries. late@D = D FDE + D pooled HNSW candidates re-ranked "
             "by exact MaxSim on 2 threads; CPU ms counts both threads. Wall times were taken beside other "
             "work (load column). docs/scaling.md reads these figures.")
    save_record("scale", build, variant="build, disk, memory", notes=notes,
                title="Vector indexes filled with stand-ins to each size: build from stored embeddings, disk "
                      "and the reader's memory.")
    save_record("scale", queries, variant="latency and recall", notes=notes,
                title="Vector indexes filled with stand-ins to each size: query latency per mode and late "
                      "mode's recall@10 of exact MaxSim per candidate depth.")


def stage_row(workdir: Path, size: int) -> dict[str, Any]:
    """One size's figures from the files its build and measurement left, recall from brute force
    (computed once, kept in recall-SIZE.json)."""
    stage = json.loads((workdir / f"stage-{size}.json").read_text())
    measured = json.loads((workdir / f"measure-{size}.json").read_text())
    recall_path = workdir / f"recall-{size}.json"
    if not recall_path.is_file():
        t = time.perf_counter()
        exact = brute_force(workdir / "index", workdir / "queries.npz", [size])[size]
        recall = {label: round(float(np.mean([len(set(a) & set(b)) / 10
                                              for a, b in zip(got, exact, strict=True)])), 3)
                  for label, got in measured["tops"].items()}
        recall["brute_s"] = round(time.perf_counter() - t, 1)
        recall_path.write_text(json.dumps(recall))
    recall = json.loads(recall_path.read_text())
    rss = measured["rss"]
    row = {**stage, "reader_open_s": round(measured["open_s"], 2), "reader_peak_rss_mb": rss["VmHWM"],
           "reader_anon_rss_mb": rss["RssAnon"], "reader_file_rss_mb": rss["RssFile"],
           "measure_load_avg": round(measured["load_avg"], 2) if "load_avg" in measured else ""}
    for label, ms in measured["times"].items():
        row[f"{label}_p50_ms"] = round(float(np.percentile(ms, 50)), 1)
        row[f"{label}_p99_ms"] = round(float(np.percentile(ms, 99)), 1)
        if "cpu" in measured:
            row[f"{label}_cpu_p50_ms"] = round(float(np.percentile(measured["cpu"][label], 50)), 1)
        if label in recall:
            row[f"{label}_recall10"] = recall[label]
    return row


if __name__ == "__main__":
    main()
