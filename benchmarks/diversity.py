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
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from diversity_metrics import MEASURES, evaluate, front_score, matched, spherical_kmeans

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
    args = parser.parse_args()
    if args.refetch or not (args.cache / f"candidates-train-{args.mode}-{args.candidates}.npz").is_file():
        fetch(args.workdir, args.cache, args.mode, args.candidates, args.train_limit)
    corpus = np.load(args.cache / "corpus.npz")
    vectors, docids = corpus["vectors"].astype(np.float64), corpus["docids"]
    labels = spherical_kmeans(vectors, args.clusters)
    train, train_qrels = load_runs(args.cache, "train", args.mode, args.candidates, vectors, docids)
    test, test_qrels = load_runs(args.cache, "test", args.mode, args.candidates, vectors, docids)

    def run(runs: list, qrels: dict, method: str, rel: str, sim: str) -> np.ndarray:
        return evaluate(runs, qrels, lambda p: labels[p], method, rel, sim, KNOBS)

    print(f"SciFact, top {args.candidates} {args.mode} candidates; {len(train)} train / {len(test)} test "
          f"queries; sub-topics = {args.clusters} k-means clusters of {len(vectors)} documents\n")
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

    # Cost of the re-rank alone (cosine matrix included), DPP and MMR interleaved query by query.
    spent = {"dpp": 0.0, "mmr": 0.0}
    for _qid, _ids, scores, pos, _cos in test:
        for name_, fn in (("dpp", dpp_order), ("mmr", mmr_order)):
            t = time.perf_counter()
            fn(scores, vectors[pos], 0.7, 10)
            spent[name_] += time.perf_counter() - t
    print(f"\nRe-rank cost, top 10 of {args.candidates}: DPP {spent['dpp'] * 1000 / len(test):.2f} ms, "
          f"MMR {spent['mmr'] * 1000 / len(test):.2f} ms per query")


if __name__ == "__main__":
    main()
