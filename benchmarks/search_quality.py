"""Search quality on BEIR SciFact: nDCG@10 / Recall@100 per mode, exact MaxSim beside FDE+HNSW late mode.

    .venv/bin/python benchmarks/search_quality.py --split test [--workdir /tmp/ps/scifact]
    .venv/bin/python benchmarks/search_quality.py --split train --tune --calibrate

Loads the corpus into a SQLite store under --workdir and indexes it with the normal pipeline (both are
reused on the next run). Hybrid is measured with both fusions (rank fusion, the default, and z-score
fusion). `--tune` grid-searches fusion weights (RRF weights and constant; z-score weights), and with
`--sweeps` the late-mode candidate depth; `--calibrate` fits the relevance-threshold calibration. Both
refuse any split but train: the test split is only ever measured, never tuned on (and the holdout is
never read).
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import sqlalchemy as sa
from record import save_record

from paperscope.embed import Encoded, OnnxEncoder, load_encoder
from paperscope.embed.bundled import bundled_spec
from paperscope.index.build import build_index
from paperscope.search import SearchConfig, SearchEngine
from paperscope.search.beir import BeirDataset, doc_ids_by_rowid, load_beir, load_corpus
from paperscope.search.calibration import fit_logistic
from paperscope.search.fusion import reciprocal_rank_fusion, zscore_fusion
from paperscope.search.metrics import ndcg_at_k, percentile, recall_at_k
from paperscope.settings import Settings
from paperscope.store import open_database

SCIFACT = Path(__file__).resolve().parents[2] / "shared" / "data" / "scifact"
DEPTH = 100


def mean_metrics(runs: dict[str, list[str]], ds: BeirDataset) -> tuple[float, float]:
    n = len(ds.queries)
    ndcg = sum(ndcg_at_k(runs.get(q, []), ds.qrels[q], 10) for q in ds.queries) / n
    rec = sum(recall_at_k(runs.get(q, []), ds.qrels[q], 100) for q in ds.queries) / n
    return ndcg, rec


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=SCIFACT)
    ap.add_argument("--split", default="test")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/paperscope-scifact"))
    ap.add_argument("--tune", action="store_true", help="grid-search fusion (train split only)")
    ap.add_argument("--calibrate", action="store_true", help="fit the threshold calibration (train only)")
    ap.add_argument("--threads", type=int, default=0,
                    help="encoder threads (default: one per core; more only helps on a busy machine)")
    ap.add_argument("--modes", default="", help="comma-separated modes to run (default: all)")
    ap.add_argument("--sweeps", action="store_true", help="with --tune: also sweep "
                    "late-mode candidate depth")
    ap.add_argument("--no-exact", action="store_true", help="skip brute-force exact MaxSim")
    ap.add_argument("--postgres", action="store_true",
                    help="also measure bm25 on a throwaway PostgreSQL server (tsvector + ts_rank_cd)")
    ap.add_argument("--model-dir", type=Path, help="a user model directory (PAPERSCOPE_MODEL) instead of the "
                    "bundled MiniLM; give it its own --workdir")
    ap.add_argument("--tag", default="", help="added to the record's variant (keeps a comparison run apart)")
    args = ap.parse_args()
    if (args.tune or args.calibrate) and args.split != "train":
        raise SystemExit("--tune/--calibrate run on the train split only")

    ds = load_beir(args.data, args.split)
    settings = Settings(home=args.workdir, database_url="")
    if args.model_dir:
        settings = settings.model_copy(update={"model": str(args.model_dir)})
    settings.ensure_home()
    engine = open_database(settings.db_url)
    load_corpus(engine, ds)
    encoder = (OnnxEncoder(bundled_spec(settings), args.threads) if args.threads and not args.model_dir
               else load_encoder(settings, threads=args.threads or None))
    report = build_index(engine, settings.index_dir, encoder)
    if report.added:
        print(f"indexed {report.added} documents in {report.seconds:.0f}s")
    se = SearchEngine(engine, settings, encoder=encoder)
    idx = se.indexes
    assert idx is not None
    docs = doc_ids_by_rowid(engine)
    all_keys = [int(k) for k in docs]
    print(f"{args.data.name} {args.split}: {len(ds.queries)} queries, {len(docs)} documents, "
          f"model {encoder.name}, FDE dim {idx.fde.config.output_dim}")

    encoded = {q: se.encode_query(t) for q, t in ds.queries.items()}
    cfg = se.config
    per_mode: dict[str, dict[str, list[int]]] = {}
    latency: dict[str, list[float]] = {}
    scores: dict[str, dict[str, dict[int, float]]] = {}

    def run(name: str, fn: object) -> None:
        per_mode[name], latency[name], scores[name] = {}, [], {}
        for q in ds.queries:
            t = time.perf_counter()
            ids, sc = fn(q)  # type: ignore[operator]
            latency[name].append((time.perf_counter() - t) * 1000)
            per_mode[name][q] = ids
            scores[name][q] = dict(zip(ids, sc, strict=True))

    def via_engine(mode: str, config: SearchConfig | None = None) -> object:
        engine_for = SearchEngine(engine, settings, config=config or cfg, encoder=encoder)

        def go(q: str) -> tuple[list[int], list[float]]:
            hits = engine_for.search(ds.queries[q], mode=mode, k=DEPTH, encoded=encoded[q]).hits  # type: ignore[arg-type]
            return [h.rowid for h in hits], [h.score for h in hits]
        return go

    def exact_maxsim(q: str) -> tuple[list[int], list[float]]:
        # Same arithmetic as TokenStore.maxsim over every document, on a matrix decoded once up front.
        sims = idx.tokens.project_query(encoded[q].tokens) @ all_tokens.T
        scores = np.maximum.reduceat(sims, starts, axis=1).sum(axis=0)
        top = np.argsort(-scores)[:DEPTH]
        return [all_keys[i] for i in top], scores[top].tolist()

    modes = args.modes.split(",") if args.modes else (
        ["bm25", "dense", "late"] if args.tune else ["bm25", "dense", "late", "hybrid"])
    for mode in modes:
        run(mode, via_engine(mode))
    if "hybrid" in modes:
        run("hybrid, z-score fusion", via_engine("hybrid", replace(cfg, fusion="zscore")))
    if not (args.tune or args.no_exact):  # brute force is for the reported comparison, not for tuning
        mats = [idx.tokens.get(k) for k in all_keys]
        all_tokens = np.concatenate(mats)
        starts = np.cumsum([0] + [len(m) for m in mats[:-1]])
        run("late, exact MaxSim (brute force)", exact_maxsim)

    def as_docs(ranking: dict[str, list[int]]) -> dict[str, list[str]]:
        return {q: [docs[i] for i in ids if i in docs] for q, ids in ranking.items()}

    print("\n| mode | nDCG@10 | Recall@100 | p50 ms (excl. encoding) |\n|---|---|---|---|")
    rows = []
    for name in per_mode:
        ndcg, rec = mean_metrics(as_docs(per_mode[name]), ds)
        print(f"| {name} | {ndcg:.4f} | {rec:.4f} | {percentile(latency[name], 50):.1f} |")
        rows.append({"mode": name, "ndcg_at_10": round(ndcg, 4), "recall_at_100": round(rec, 4),
                     "p50_ms_excl_encoding": round(percentile(latency[name], 50), 1)})
    exact = per_mode.get("late, exact MaxSim (brute force)")
    notes = ""
    if exact and "late" in per_mode:
        overlap = np.mean([len(set(per_mode["late"][q][:10]) & set(exact[q][:10]))
                           / max(1, min(10, len(exact[q]))) for q in ds.queries])
        print(f"\nlate mode recall@10 of exact MaxSim: {overlap:.4f}")
        notes = f"late mode recall@10 of exact MaxSim: {overlap:.4f}"
    variant = f"{args.data.name} {args.split}" + (f", model {encoder.name}" if args.model_dir else "") + (
        f", {args.tag}" if args.tag else "")
    save_record("search_quality", rows, variant=variant, notes=notes,
                title=f"{args.data.name} {args.split}: {len(ds.queries)} queries, {len(docs)} documents.")

    if args.postgres:
        postgres_bm25(ds)
    if args.tune:
        tune(ds, per_mode, as_docs, via_engine, cfg, args.sweeps)
        tune_zscore(ds, se, encoded, as_docs)
    if args.calibrate:
        feats, labels = [], []
        for q in ds.queries:
            for rowid in per_mode["dense"][q][:20]:
                feats.append(scores["dense"][q][rowid])
                labels.append(1 if ds.qrels[q].get(docs.get(rowid, ""), 0) > 0 else 0)
        cal = fit_logistic(feats, labels)
        print(f"\ncalibration on {len(feats)} (query, top-20 dense hit) pairs, {sum(labels)} relevant: "
              f"slope={cal.slope:.3f} intercept={cal.intercept:.3f}; P=0.5 at cosine "
              f"{-cal.intercept / cal.slope:.3f}")


def postgres_bm25(ds: BeirDataset) -> None:
    """bm25 mode on PostgreSQL full text, same corpus and queries (the server is stopped afterwards)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.pg import start_pg

    server = start_pg()
    if server is None:
        print("PostgreSQL not installed; skipped")
        return
    try:
        admin = sa.create_engine(server.base_url + "/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text("CREATE DATABASE beir"))
        engine = open_database(server.base_url + "/beir")
        load_corpus(engine, ds)
        docs = doc_ids_by_rowid(engine)
        home = Path(tempfile.mkdtemp())
        se = SearchEngine(engine, Settings(home=home, database_url=server.base_url + "/beir"))
        runs, times = {}, []
        for q, text in ds.queries.items():
            t = time.perf_counter()
            hits = se.search(text, mode="bm25", k=DEPTH).hits
            times.append((time.perf_counter() - t) * 1000)
            runs[q] = [docs[h.rowid] for h in hits if h.rowid in docs]
        ndcg, rec = mean_metrics(runs, ds)
        print(f"| bm25 on PostgreSQL (ts_rank_cd) | {ndcg:.4f} | {rec:.4f} | {percentile(times, 50):.1f} |")
        engine.dispose()
        admin.dispose()
    finally:
        server.stop()


def tune_zscore(ds: BeirDataset, se: SearchEngine, encoded: dict[str, Encoded], as_docs: object) -> None:
    """Grid search of z-score fusion weights (bm25 fixed at 1: only ratios matter) over the lists hybrid
    itself fuses: bm25 and dense 100 deep, late from hybrid's own 50 + 50 candidates."""
    idx = se.indexes
    assert idx is not None
    lists: dict[str, dict[str, tuple[list[int], list[float]]]] = {}
    for q, text in ds.queries.items():
        e = encoded[q]
        per: dict[str, tuple[list[int], list[float]]] = {}
        for mode in ("bm25", "dense"):
            hits = se.search(text, mode=mode, k=DEPTH, encoded=e).hits
            per[mode] = ([h.rowid for h in hits], [h.score for h in hits])
        n, r = se.config.hybrid_late_candidates, se.retriever  # what hybrid's late list re-ranks
        fde, pooled = r.fde_candidates(e.tokens, n, idx=idx), r.dense(e.pooled, n, idx=idx).ids
        candidates = list(dict.fromkeys(fde + pooled))
        late = r.late(e.tokens, candidates, DEPTH, idx=idx)
        per["late"] = (late.ids, late.scores)
        lists[q] = per
    grid = [0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5]
    results = []
    for wd, wl in itertools.product(grid, grid):
        weights = {"bm25": 1.0, "dense": wd, "late": wl}
        fused = {q: [i for i, _ in zscore_fusion(lists[q], weights)][:DEPTH] for q in ds.queries}
        ndcg, rec = mean_metrics(as_docs(fused), ds)  # type: ignore[operator]
        results.append((ndcg, rec, wd, wl))
    results.sort(reverse=True)
    print("\nbest z-score fusion weights (train, w_bm25 = 1):\n| nDCG@10 | Recall@100 | w_dense | w_late |")
    for r in results[:8]:
        print("| {:.4f} | {:.4f} | {} | {} |".format(*r))


def tune(ds: BeirDataset, per_mode: dict[str, dict[str, list[int]]], as_docs: object, via_engine: object,
         cfg: SearchConfig, sweeps: bool) -> None:
    """Grid search on the (train) rankings already computed: fusion weights and RRF constant."""
    results = []
    grid = [0.0, 0.5, 1.0, 1.5, 2.0]
    for wb, wd, wl, k in itertools.product(grid, grid, grid, (10, 20, 40, 60)):
        if wb == wd == wl == 0:
            continue
        fused = {q: [i for i, _ in reciprocal_rank_fusion(
            {"bm25": per_mode["bm25"][q], "dense": per_mode["dense"][q], "late": per_mode["late"][q]},
            {"bm25": wb, "dense": wd, "late": wl}, k)][:DEPTH] for q in ds.queries}
        ndcg, rec = mean_metrics(as_docs(fused), ds)  # type: ignore[operator]
        results.append((ndcg, rec, wb, wd, wl, k))
    results.sort(reverse=True)
    print("\nbest fusion settings (train):\n| nDCG@10 | Recall@100 | w_bm25 | w_dense | w_late | rrf_k |")
    for r in results[:8]:
        print("| {:.4f} | {:.4f} | {} | {} | {} | {} |".format(*r))
    if not sweeps:
        return
    # Late mode: how many FDE candidates, with or without the pooled index's, go to the exact re-rank.
    for depth, pooled in itertools.product((50, 100, 200, 300), (False, True)):
        conf = replace(cfg, late_candidates=depth, late_pooled_candidates=pooled)
        go = via_engine("late", conf)  # type: ignore[operator]
        t = time.perf_counter()
        runs = {q: go(q)[0] for q in ds.queries}
        ms = (time.perf_counter() - t) * 1000 / len(ds.queries)
        ndcg, rec = mean_metrics(as_docs(runs), ds)  # type: ignore[operator]
        print(f"late_candidates={depth} pooled={pooled}: nDCG@10 {ndcg:.4f} Recall@100 {rec:.4f} "
              f"({ms:.1f} ms/query)")


if __name__ == "__main__":
    main()
