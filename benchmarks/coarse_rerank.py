"""Would a coarse first pass make deep late-mode candidate lists affordable? Measured on a grown index.

    .venv/bin/python benchmarks/coarse_rerank.py [--workdir /tmp/paperscope-scale] [--queries 20]

Reads the index and queries benchmarks/scale.py left in --workdir (stand-in papers; see that script).
For each query, late mode's candidates (D FDE + D pooled-vector HNSW hits) are scored first with a
*coarse* copy of each paper's token rows, the rows pooled again by --coarse-factor (k-means, as the token
codec pools), and only the best K go to the exact MaxSim re-rank. Recall@10 of exact MaxSim over the
whole index is compared with plain late mode at the same D. The coarse rows are computed on the fly
here; a product version would store them (about 1/factor of the token store). Cost is reported as rows
scored per query, the unit the re-rank's time follows (~19 us of CPU per 104-row paper, scale record).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from record import save_record  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from scale import brute_force  # noqa: E402

from paperscope.index.indexset import IndexSet  # noqa: E402
from paperscope.index.token_codec import pool_tokens  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/paperscope-scale"))
    ap.add_argument("--queries", type=int, default=20)
    ap.add_argument("--coarse-factor", type=int, default=8)
    ap.add_argument("--depths", default="1600,3200,6400")
    ap.add_argument("--keep", default="250,500,1000")
    args = ap.parse_args()
    root, queries_path = args.workdir / "index", args.workdir / "queries.npz"
    idx = IndexSet.open(root, view=True)
    assert idx is not None
    n = idx.manifest.count
    stored = np.load(queries_path)
    count = min(args.queries, len(stored.files) // 2)
    t = time.perf_counter()
    exact = brute_force(root, queries_path, [n])[n][:count]
    print(f"brute force over {n:,} papers: {time.perf_counter() - t:.0f}s", flush=True)
    codec = idx.tokens.codec
    assert codec is not None
    data, spans, scale = idx.tokens._data(), idx.tokens._spans, codec.scale
    depths = [int(d) for d in args.depths.split(",")]
    keeps = [int(k) for k in args.keep.split(",")]
    recall: dict[tuple[int, int], list[float]] = {}
    rows_scored: dict[tuple[int, int], list[int]] = {}
    for q in range(count):
        pooled, tokens = stored[f"p{q}"], stored[f"t{q}"]
        query = idx.tokens.project_query(tokens)  # reduced space, float32
        fde_query = idx.fde.encode_query(tokens)
        for depth in depths:
            fde_keys, _ = idx.fde_ann.search(fde_query, depth, ef=max(256, depth))
            pooled_keys, _ = idx.pooled.search(pooled, depth, ef=max(256, depth))
            cand = np.unique(np.concatenate([fde_keys, pooled_keys]))
            rows = [data[s:s + c].astype(np.float32) * scale for s, c in (spans[int(k)] for k in cand)]
            full = np.array([(r @ query.T).max(axis=0).sum() for r in rows])
            coarse_rows = [pool_tokens(r, args.coarse_factor) for r in rows]
            coarse = np.array([(r @ query.T).max(axis=0).sum() for r in coarse_rows])
            truth = set(exact[q])
            plain = cand[np.argsort(-full, kind="stable")[:10]]
            recall.setdefault((depth, 0), []).append(len(truth & set(plain.tolist())) / 10)
            rows_scored.setdefault((depth, 0), []).append(sum(len(r) for r in rows))
            for keep in keeps:
                best = np.argsort(-coarse, kind="stable")[:keep]
                top = best[np.argsort(-full[best], kind="stable")[:10]]
                recall.setdefault((depth, keep), []).append(len(truth & set(cand[top].tolist())) / 10)
                rows_scored.setdefault((depth, keep), []).append(
                    sum(len(r) for r in coarse_rows) + sum(len(rows[i]) for i in best))
        print(f"query {q + 1}/{count}", flush=True)
    table = []
    for (depth, keep), values in sorted(recall.items()):
        table.append({"papers": n, "candidates_per_list": depth,
                      "exact_rerank_of": "all" if keep == 0 else f"best {keep} by coarse score",
                      "recall10_of_exact_maxsim": round(float(np.mean(values)), 3),
                      "rows_scored_per_query": int(np.median(rows_scored[(depth, keep)]))})
        print(table[-1], flush=True)
    save_record("coarse_rerank", table, variant=f"{n:,} stand-in papers, coarse factor {args.coarse_factor}",
                title="Late mode with a coarse first pass: recall@10 of exact MaxSim, rows scored per query.",
                notes=f"{count} title queries; index and queries from benchmarks/scale.py; coarse rows = the "
                      f"stored token rows pooled again by {args.coarse_factor} (k-means).")


if __name__ == "__main__":
    main()
