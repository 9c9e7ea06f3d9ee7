"""MUVERA fidelity on a built paperscope index, at full corpus scale (issue benchmark 2, arXiv part).

    .venv/bin/python benchmarks/muvera_fidelity_index.py --workdir /tmp/ps/arxiv-full [--queries 100]

`muvera_fidelity.py` compares candidate generators on float32 token encodings it makes itself; at 74.7k
papers those would need ~23 GB. This script instead works on what `paperscope index` stored: the
target is the exact MaxSim top-10 over the whole token store (what late mode re-ranks against: PCA-128 +
int8, pooled by the index's factor), and the generators are
  * the deployed FDE HNSW index and the pooled-vector HNSW index, top N;
  * the single-vector heuristic (SV): every query token fetches its k' nearest stored tokens
    (exhaustive, so SV at its best), hits deduplicated by paper; candidates = distinct papers.
It reports the candidates each needs for 80/90/95% mean recall of that top-10. Queries are the titles of
the papers after the indexed ones, as in `search_latency.py` (which builds the index).
"""

from __future__ import annotations

import argparse
import itertools
import os
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "2")

import numpy as np  # noqa: E402
from record import save_record

from paperscope.embed import load_encoder
from paperscope.search import SearchEngine
from paperscope.settings import Settings
from paperscope.sources.jsonl import JsonlSource
from paperscope.store import open_database

ARXIV = Path(__file__).resolve().parents[2] / "shared" / "data" / "arxiv-2025-2026.jsonl.gz"
TARGETS = (0.8, 0.9, 0.95)
DEPTHS = (10, 20, 50, 100, 200, 300, 400, 600, 800, 1200, 1600, 2400, 3200, 4800, 6400)


def needed(curve: list[tuple[float, float]], target: float) -> str:
    """Fewest mean candidates whose mean recall reaches `target`, linearly interpolated on the curve."""
    for (c0, r0), (c1, r1) in itertools.pairwise([(0.0, 0.0), *curve]):
        if r1 >= target:
            return f"{c0 + (c1 - c0) * (target - r0) / max(r1 - r0, 1e-9):,.0f}"
    return "not reached"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workdir", type=Path, required=True, help="a home indexed by search_latency.py")
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--papers", type=int, default=74528, help="as given to search_latency.py")
    ap.add_argument("--data", type=Path, default=ARXIV)
    args = ap.parse_args()

    settings = Settings(home=args.workdir, database_url="")
    engine = open_database(settings.db_url)
    se = SearchEngine(engine, settings, encoder=load_encoder(settings))
    idx = se.indexes
    assert idx is not None, "no index under --workdir: build it with search_latency.py"
    later = itertools.islice(JsonlSource(args.data), args.papers, None)
    queries = [" ".join(p.title.split()) for p in later if hasattr(p, "title")][:args.queries]
    encoded = [se.encode_query(q) for q in queries]

    # Every stored token row, widened once, with the paper it belongs to.
    spans = sorted((start, count, key) for key, (start, count) in idx.tokens._spans.items() if count)
    keys = np.asarray([key for _, _, key in spans], dtype=np.int64)
    owner = np.repeat(keys, [count for _, count, _ in spans])
    data = idx.tokens._data()
    rows = np.concatenate([data[start:start + count] for start, count, _ in spans], dtype=np.float32)
    print(f"{len(keys):,} papers, {len(rows):,} stored token rows, {len(queries)} queries", flush=True)

    exact = [set(se.retriever.late(e.tokens, keys.tolist(), 10, idx=idx).ids) for e in encoded]

    def recall(found: list[set[int]]) -> float:
        return float(np.mean([len(f & t) / len(t) for f, t in zip(found, exact, strict=True)]))

    curves: dict[str, list[tuple[float, float]]] = {}
    fde_q = [idx.fde.encode_query(e.tokens) for e in encoded]
    for name, search, vecs in (("FDE (deployed 2,048-d i8, HNSW)", idx.fde_ann, fde_q),
                               ("pooled vector (HNSW)", idx.pooled, [e.pooled for e in encoded])):
        top = [search.search(v, DEPTHS[-1], ef=DEPTHS[-1])[0] for v in vecs]
        curves[name] = [(float(n), recall([set(t[:n].tolist()) for t in top])) for n in DEPTHS]

    # SV: each query token's k' nearest stored tokens (by the same scaled inner product MaxSim uses).
    sv_hits: list[list[np.ndarray]] = []
    kmax = 64
    for e in encoded:
        q = idx.tokens.project_query(e.tokens) * idx.tokens._scale
        per_token = []
        for sims in np.ascontiguousarray((rows @ q.T).T):  # one pass over the rows per query
            best = np.argpartition(-sims, kmax)[:kmax]
            per_token.append(owner[best[np.argsort(-sims[best])]])
        sv_hits.append(per_token)
    sv = []
    for k in range(1, kmax + 1):
        found = [set(np.concatenate([t[:k] for t in hits]).tolist()) for hits in sv_hits]
        sv.append((float(np.mean([len(f) for f in found])), recall(found)))
    curves["single-vector heuristic (exhaustive token search, dedup)"] = sv

    print("\n| generator | candidates for 80% | 90% | 95% |\n|---|---:|---:|---:|")
    for name, curve in curves.items():
        print(f"| {name} | " + " | ".join(needed(curve, t) for t in TARGETS) + " |")
    sv_90 = needed(sv, 0.9)
    print("\nSV curve (k': mean papers / recall): " + ", ".join(
        f"{k}: {sv[k - 1][0]:.0f}/{sv[k - 1][1]:.3f}" for k in (1, 2, 4, 8, 16, 32, 64)))
    print(f"SV needs {sv_90} candidates for 90%")
    save_record("muvera_fidelity_index", [
        {"generator": name, "candidates_for_80pct": needed(curve, 0.8), "for_90pct": needed(curve, 0.9),
         "for_95pct": needed(curve, 0.95)} for name, curve in curves.items()],
        variant=f"{len(keys):,} papers",
        title=f"Candidates each generator needs to hold the exact MaxSim top-10 ({len(queries)} queries).")


if __name__ == "__main__":
    main()
