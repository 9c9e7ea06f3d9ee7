"""Diversity: DPP vs MMR re-ranking on SciFact — nDCG@10 against redundancy of the top 10, at equal nDCG.

    .venv/bin/python benchmarks/diversity.py --workdir /tmp/ps/scifact [--cache /tmp/paperscope-diversity]
        [--mode hybrid] [--candidates 100] [--bootstrap 1000]

Needs a complete SciFact index in --workdir (built by `benchmarks/search_quality.py --workdir` or
`paperscope eval beir --workdir`); this script only reads it. For every train and test query the top
`--candidates` papers of `--mode` (the normal SearchEngine) are cached under --cache, then re-ranked by
the DPP (search/dpp.py, knob θ) and by MMR (search/mmr.py, knob λ) over a sweep of knob values.

Redundancy of a top 10 (pooled-vector cosine): ILS@10 (mean pairwise cosine), the largest pairwise
cosine, near-duplicate pairs (cosine >= 0.8), and sub-topics covered (distinct clusters of a spherical
k-means over the whole corpus's pooled vectors).

Protocol. Free choices — how relevance enters (min-max scaled score, linear in rank, DCG discount of the
rank) and the similarity kernel (cosine, squared cosine, exp((cos-1)/σ)) — are chosen separately for
each method on the *train* split (lowest mean ILS@10 at nDCG@10 0.25-3 points below the relevance
order). Test is then reported for the chosen variants and for the plain one (min-max, cosine): each
measure is interpolated along each method's θ/λ curve at the same nDCG@10 values, and DPP - MMR is
given with a 95% paired bootstrap interval over queries.

Session 4 (`--protocol 4`, the default; `--protocol 2` runs the procedure above). Same idea with a wider
menu and fair sampling: relevance also exp(-rank/τ), kernels also (cos+c)/(1+c) and the Laplacian
exp(-‖u-v‖/s); every variant gets its own dense knob grid (diversity_fast.py); the per-method winners
(M = 100 candidates) are then tried with M = 30/50 and, for the DPP, Chen et al.'s sliding window 3/5.
Test is run once for the chosen pair, with the train grids. Primary figure: DPP - MMR ILS@10 averaged
over 0.5/1/2/3 points of nDCG loss, paired bootstrap. Finally the product default (search/dpp.py) is
checked to pick the same lists as the chosen batched variant, and its θ sweep is printed.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from diversity_fast import (
    Batch,
    batch_measures,
    check_against_product,
    evaluate_refined,
    mmr_check_against_product,
)
from diversity_metrics import BETTER, MEASURES, at_ndcg, evaluate, front_score, matched, spherical_kmeans
from record import save_record

from paperscope.search import SearchEngine
from paperscope.search.beir import doc_ids_by_rowid, load_beir
from paperscope.search.dpp import cosine_similarity, dpp_order, pooled_vectors
from paperscope.search.mmr import mmr_order
from paperscope.settings import Settings
from paperscope.store import open_database

SCIFACT = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "scifact"
KNOBS = (1.0, 0.995, 0.99, 0.98, 0.97, 0.96, 0.95, 0.94, 0.93, 0.92, 0.9, 0.88, 0.85, 0.82, 0.8, 0.75,
         0.7, 0.65, 0.6, 0.5, 0.4, 0.3)
RELEVANCE = ("minmax", "rank", "dcg")
KERNELS = ("cos", "cos2", "exp0.2", "exp0.1")
SELECT_DROPS = (0.0025, 0.005, 0.01, 0.015, 0.02, 0.03)
REPORT_DROPS = (0.005, 0.01, 0.02, 0.03)
RELEVANCE4 = ("minmax", "dcg", "exp0.35", "exp0.5", "exp0.75", "exp1", "exp2", "exp3")
KERNELS4 = ("cos", "cos2", "shift4", "exp0.5", "lap0.5", "lap1", "lap2", "lap4", "lap8")


def fetch(workdir: Path, cache: Path, mode: str, depth: int, train_limit: int | None = None) -> None:
    """Cache the corpus's pooled vectors and every train/test query's top `depth` candidates."""
    settings = Settings(home=workdir, database_url="")
    engine = open_database(settings.db_url)
    search_engine = SearchEngine(engine, settings)
    idx = search_engine.indexes
    if idx is None:
        sys.exit(f"no index under {workdir}: build it first (benchmarks/search_quality.py --workdir)")
    docs = doc_ids_by_rowid(engine)
    rowids = sorted(docs)
    found = pooled_vectors(idx.pooled, rowids)
    if len(found) < len(rowids):
        sys.exit(f"index is partial ({len(found)}/{len(rowids)} documents); wait for it to finish")
    cache.mkdir(parents=True, exist_ok=True)
    np.savez(cache / "corpus.npz", rowids=np.array(rowids), docids=np.array([docs[r] for r in rowids]),
             vectors=np.stack([found[r] for r in rowids]))
    position = {r: i for i, r in enumerate(rowids)}
    for split in ("test", "train"):
        ds = load_beir(SCIFACT, split)
        qids = list(ds.queries)[:train_limit] if split == "train" else list(ds.queries)
        pos = np.full((len(qids), depth), -1, dtype=np.int64)
        scores = np.zeros((len(qids), depth))
        t = time.perf_counter()
        for qi, qid in enumerate(qids):
            hits = search_engine.search(ds.queries[qid], mode=mode, k=depth).hits  # type: ignore[arg-type]
            for hi, h in enumerate(hits[:depth]):
                pos[qi, hi], scores[qi, hi] = position[h.rowid], h.score
            if (qi + 1) % 100 == 0:
                print(f"{split}: {qi + 1}/{len(qids)}", file=sys.stderr, flush=True)
        print(f"{split}: {len(qids)} queries searched in {time.perf_counter() - t:.0f}s", file=sys.stderr)
        np.savez(cache / f"candidates-{split}-{mode}-{depth}.npz", qids=np.array(qids), pos=pos,
                 scores=scores)


def load_runs(cache: Path, split: str, mode: str, depth: int, vectors: np.ndarray,
              docids: np.ndarray) -> tuple[list, dict]:
    """(query id, candidate doc ids, scores, corpus positions, candidate cosine matrix) per query."""
    ds = load_beir(SCIFACT, split)
    got = np.load(cache / f"candidates-{split}-{mode}-{depth}.npz")
    runs = []  # qrels of queries not fetched (--train-limit) are simply never looked up
    for qid, pos, scores in zip(got["qids"].tolist(), got["pos"], got["scores"], strict=True):
        keep = pos >= 0
        p = pos[keep]
        runs.append((qid, docids[p].tolist(), scores[keep], p, cosine_similarity(vectors[p])))
    return runs, ds.qrels


def sweep_table(name: str, dpp: np.ndarray, mmr: np.ndarray) -> None:
    d, m = dpp.mean(axis=0), mmr.mean(axis=0)
    print(f"\n{name}: mean over queries (θ for the DPP, λ for MMR)\n")
    print("| θ / λ | DPP nDCG@10 | DPP ILS@10 | DPP max cos | MMR nDCG@10 | MMR ILS@10 | MMR max cos |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for i, knob in enumerate(KNOBS):
        print(f"| {knob:.3f} | {d[i, 0]:.4f} | {d[i, 1]:.4f} | {d[i, 2]:.4f} | {m[i, 0]:.4f} | {m[i, 1]:.4f} "
              f"| {m[i, 2]:.4f} |")


def matched_table(name: str, dpp: np.ndarray, mmr: np.ndarray, boot: int) -> None:
    diff = matched(dpp, mmr, REPORT_DROPS, boot=boot)
    base = dpp.mean(axis=0)[0, 0]
    print(f"\n{name}: DPP - MMR at equal nDCG@10 (interpolated along each curve), [95% paired bootstrap]\n")
    print("| nDCG@10 | ILS@10 | max cos | near-dup pairs | sub-topics |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    for di, drop in enumerate(REPORT_DROPS):
        cells = []
        for m in MEASURES[1:]:
            obs = diff[m][0, di]
            lo, hi = np.nanpercentile(diff[m][1:, di], [2.5, 97.5]) if boot else (np.nan, np.nan)
            cells.append(f"{obs:+.4f} [{lo:+.4f}, {hi:+.4f}]")
        print(f"| {base - drop:.4f} | " + " | ".join(cells) + " |")


def protocol4(train: list, train_qrels: dict, test: list, test_qrels: dict, labels: np.ndarray,
              vectors: np.ndarray, boot: int) -> None:
    """Session 4: wider menu, per-variant dense grids, M and window choices, one test run (see top)."""
    t0 = time.perf_counter()
    tb = Batch.from_runs(train, train_qrels, labels, 100)
    print("Train: mean ILS@10 at nDCG@10 0.25-3 points below the relevance order (lower is better), "
          "M = 100, per-variant dense knob grids\n")
    print("| relevance | kernel | DPP | MMR |\n| --- | --- | ---: | ---: |")
    best: dict[str, tuple[float, str, str, int, int | None, list[float]]] = {}
    for rel in RELEVANCE4:
        for ker in KERNELS4:
            cells = []
            for m in ("dpp", "mmr"):
                ws, per = evaluate_refined(tb, m, rel, ker)
                score = front_score(per, SELECT_DROPS)
                cells.append(f"{score:.4f}")
                if m not in best or score < best[m][0]:
                    best[m] = (score, rel, ker, 100, None, ws)
            print(f"| {rel} | {ker} | {cells[0]} | {cells[1]} |", flush=True)
    print("\nThe winners with fewer candidates (M) and, for the DPP, a sliding window (train):\n")
    for m in ("dpp", "mmr"):
        _s, rel, ker, _m, _w, _ws = best[m]
        options: list[tuple[int, int | None]] = [(30, None), (50, None)]
        options += [(100, 3), (100, 5)] if m == "dpp" else []
        for size, window in options:
            ws, per = evaluate_refined(Batch.from_runs(train, train_qrels, labels, size), m, rel, ker, window)
            score = front_score(per, SELECT_DROPS)
            print(f"- {m} {rel}/{ker} M={size} window={window}: {score:.4f}")
            if score < best[m][0]:
                best[m] = (score, rel, ker, size, window, ws)
    d, mm = best["dpp"], best["mmr"]
    print(f"\nChosen on train: DPP {d[1]}/{d[2]} M={d[3]} window={d[4]} ({d[0]:.4f}); "
          f"MMR {mm[1]}/{mm[2]} M={mm[3]} ({mm[0]:.4f}); train sweep {time.perf_counter() - t0:.0f}s")

    per_test = {}
    for m, (_s, rel, ker, size, window, ws) in best.items():
        _, per_test[m] = evaluate_refined(Batch.from_runs(test, test_qrels, labels, size), m, rel, ker,
                                          window, weights=ws)
    a, b = per_test["dpp"], per_test["mmr"]
    base = a.mean(axis=0)[0]
    named = zip(MEASURES, base, strict=True)
    print("\nTest, relevance order: " + ", ".join(f"{n} {v:.4f}" for n, v in named))
    diff = matched(a, b, REPORT_DROPS, boot=boot)
    print("\nTest, chosen pair: DPP - MMR at equal nDCG@10 [95% paired bootstrap]\n")
    print("| nDCG@10 | ILS@10 | max cos | near-dup pairs | sub-topics |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    for di, drop in enumerate(REPORT_DROPS):
        cells = []
        for meas in MEASURES[1:]:
            lo, hi = np.nanpercentile(diff[meas][1:, di], [2.5, 97.5])
            cells.append(f"{diff[meas][0, di]:+.4f} [{lo:+.4f}, {hi:+.4f}]")
        print(f"| {base[0] - drop:.4f} | " + " | ".join(cells) + " |")
    print()
    for meas in MEASURES[1:]:
        avg = np.nanmean(diff[meas], axis=1)
        lo, hi = np.nanpercentile(avg[1:], [2.5, 97.5])
        print(f"- mean over the four levels, {meas}: {avg[0]:+.4f} [{lo:+.4f}, {hi:+.4f}]")
    print("\nTest, each method at the same levels (interpolated):\n")
    print("| method | " + " | ".join(f"{base[0] - x:.4f}" for x in REPORT_DROPS) + " |")
    print("| --- |" + " ---: |" * len(REPORT_DROPS))
    rows = []
    for name, arr in (("DPP", a), ("MMR", b)):
        mean = arr.mean(axis=0)
        for mi, meas in enumerate(MEASURES[1:], start=1):
            vals = [at_ndcg(mean[:, 0], mean[:, mi], base[0] - x, BETTER[meas]) for x in REPORT_DROPS]
            print(f"| {name} {meas} | " + " | ".join(f"{v:.4f}" for v in vals) + " |")
            levels = {f"at nDCG@10 {base[0] - x:.4f}": round(float(v), 4)
                      for x, v in zip(REPORT_DROPS, vals, strict=True)}
            rows.append({"method and measure": f"{name} {meas}", **levels})
    save_record("diversity", rows, title="SciFact test: DPP and MMR at the same nDCG@10 levels below the "
                "relevance order (every choice made on train).")

    # The product default (search/dpp.py) against the batched variant it implements, and its θ sweep.
    full = Batch.from_runs(test, test_qrels, labels, 100)
    thetas = (0.5, 0.6, 0.65, 0.7, 0.75, 0.8, 0.9)
    same = check_against_product(full, [vectors[r[3]] for r in test], thetas)
    print(f"\nProduct dpp_order default == batched exp0.35/lap0.5: {same}/{len(test) * len(thetas)} lists; "
          f"batched MMR == mmr_order: {mmr_check_against_product(full)}")
    print("\n| θ (product default) | nDCG@10 | ILS@10 | max cos | near-dup pairs | sub-topics |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    for theta in (1.0, *thetas):
        tops = np.array([dpp_order(r[2], vectors[r[3]], theta, 10)[:10] for r in test])
        row = batch_measures(full, tops).mean(axis=0)
        print(f"| {theta:.2f} | " + " | ".join(f"{v:.4f}" for v in row) + " |")


def rerank_cost(test: list, vectors: np.ndarray, candidates: int) -> None:
    """Cost of the re-rank alone (kernel matrix included), the variants interleaved query by query."""
    variants = {
        "DPP (default)": lambda s, v: dpp_order(s, v, 0.7, 10),
        "DPP (score, cosine)": lambda s, v: dpp_order(s, v, 0.7, 10, relevance="score", kernel="cosine"),
        "MMR": lambda s, v: mmr_order(s, v, 0.7, 10)}
    spent = dict.fromkeys(variants, 0.0)
    for _qid, _ids, scores, pos, _cos in test:
        for name, fn in variants.items():
            t = time.perf_counter()
            fn(scores, vectors[pos])
            spent[name] += time.perf_counter() - t
    print(f"\nRe-rank cost, top 10 of {candidates}: "
          + ", ".join(f"{n} {v * 1000 / len(test):.2f} ms" for n, v in spent.items()) + " per query")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/ps/scifact"))
    parser.add_argument("--cache", type=Path, default=Path("/tmp/paperscope-diversity"))
    parser.add_argument("--mode", default="hybrid")
    parser.add_argument("--candidates", type=int, default=100)
    parser.add_argument("--clusters", type=int, default=100, help="k of the sub-topic k-means")
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--train-limit", type=int, default=None,
                        help="Search only the first N train queries (file order) when fetching.")
    parser.add_argument("--refetch", action="store_true", help="Search again even if candidates are cached.")
    parser.add_argument("--protocol", type=int, choices=(2, 4), default=4,
                        help="4: session-4 menu and dense grids (default); 2: the session-2 procedure.")
    args = parser.parse_args()
    if args.refetch or not (args.cache / f"candidates-train-{args.mode}-{args.candidates}.npz").is_file():
        fetch(args.workdir, args.cache, args.mode, args.candidates, args.train_limit)
    corpus = np.load(args.cache / "corpus.npz")
    vectors, docids = corpus["vectors"].astype(np.float64), corpus["docids"]
    labels = spherical_kmeans(vectors, args.clusters)
    train, train_qrels = load_runs(args.cache, "train", args.mode, args.candidates, vectors, docids)
    test, test_qrels = load_runs(args.cache, "test", args.mode, args.candidates, vectors, docids)

    print(f"SciFact, top {args.candidates} {args.mode} candidates; {len(train)} train / {len(test)} test "
          f"queries; sub-topics = {args.clusters} k-means clusters of {len(vectors)} documents\n")
    if args.protocol == 4:
        protocol4(train, train_qrels, test, test_qrels, labels, vectors, args.bootstrap)
        rerank_cost(test, vectors, args.candidates)
        return

    def run(runs: list, qrels: dict, method: str, rel: str, sim: str) -> np.ndarray:
        return evaluate(runs, qrels, lambda p: labels[p], method, rel, sim, KNOBS)

    print("Train: mean ILS@10 at nDCG@10 0.25-3 points below the relevance order (lower is better)\n")
    print("| relevance | kernel | DPP | MMR |")
    print("| --- | --- | ---: | ---: |")
    best: dict[str, tuple[float, str, str]] = {}
    for rel in RELEVANCE:
        for sim in KERNELS:
            scores = {m: front_score(run(train, train_qrels, m, rel, sim), SELECT_DROPS)
                      for m in ("dpp", "mmr")}
            print(f"| {rel} | {sim} | {scores['dpp']:.4f} | {scores['mmr']:.4f} |", flush=True)
            for m, s in scores.items():
                if m not in best or s < best[m][0]:
                    best[m] = (s, rel, sim)
    print(f"\nChosen on train: DPP {best['dpp'][1]}/{best['dpp'][2]}, MMR {best['mmr'][1]}/{best['mmr'][2]}")

    plain_d = run(test, test_qrels, "dpp", "minmax", "cos")
    plain_m = run(test, test_qrels, "mmr", "minmax", "cos")
    sweep_table("Test, plain variant (min-max relevance, cosine) for both", plain_d, plain_m)
    matched_table("Test, plain variant for both", plain_d, plain_m, args.bootstrap)
    chosen_d = run(test, test_qrels, "dpp", best["dpp"][1], best["dpp"][2])
    chosen_m = run(test, test_qrels, "mmr", best["mmr"][1], best["mmr"][2])
    name = (f"Test, variants chosen on train (DPP {best['dpp'][1]}/{best['dpp'][2]}, "
            f"MMR {best['mmr'][1]}/{best['mmr'][2]})")
    sweep_table(name, chosen_d, chosen_m)
    matched_table(name, chosen_d, chosen_m, args.bootstrap)

    rerank_cost(test, vectors, args.candidates)

if __name__ == "__main__":
    main()
