"""Diversity: DPP vs MMR re-ranking on SciFact test — nDCG@10 and intra-list similarity (ILS@10).

    .venv/bin/python benchmarks/diversity.py [--workdir /tmp/paperscope-diversity] [--mode hybrid]
        [--candidates 100]

For every test query the top `--candidates` papers of `--mode` (the normal SearchEngine) are re-ranked
by the DPP (search/dpp.py, knob θ) and by MMR (search/mmr.py, knob λ); both act on the same min-max
scaled relevance and the same cosine similarity of the papers' pooled vectors. ILS@10 is the mean
pairwise cosine of the top 10 (lower = less redundant). The θ/λ sweep is printed side by side, then
each DPP point is matched with the MMR point of nearest nDCG@10 (within 0.01) to compare redundancy at
equal quality.

The store and indexes are kept in --workdir (encoding SciFact takes minutes on 2 cores; a killed run
resumes). Pass the workdir of an earlier `paperscope eval beir --workdir` run to reuse its index.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from paperscope.embed import load_encoder
from paperscope.index.build import build_index
from paperscope.search import SearchEngine
from paperscope.search.beir import doc_ids_by_rowid, load_beir, load_corpus
from paperscope.search.dpp import dpp_order, intra_list_similarity, pooled_vectors
from paperscope.search.metrics import ndcg_at_k
from paperscope.search.mmr import mmr_order
from paperscope.settings import Settings
from paperscope.store import open_database

SCIFACT = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "scifact"
KNOBS = (1.0, 0.98, 0.95, 0.9, 0.85, 0.8, 0.75, 0.7, 0.65, 0.6, 0.5, 0.4, 0.3)


def candidate_lists(workdir: Path, mode: str, depth: int, build: bool = True,
                    build_only: bool = False) -> tuple[list[tuple[str, list[str], np.ndarray, np.ndarray]],
                                                       dict]:
    """(query id, candidate doc ids, scores, pooled vectors) per test query, and the qrels.

    Without `build` an incomplete index is used as it is: the corpus is then the indexed documents only
    (candidates outside it are dropped) and only queries with a relevant document inside it count.
    """
    dataset = load_beir(SCIFACT, "test")
    settings = Settings(home=workdir, database_url="")
    settings.ensure_home()
    engine = open_database(settings.db_url)
    load_corpus(engine, dataset)
    encoder = load_encoder(settings)
    t = time.perf_counter()
    if build:
        report = build_index(engine, settings.index_dir, encoder, save_every_s=30,
                             on_progress=lambda done, total: print(f"index {done}/{total}", file=sys.stderr,
                                                                   flush=True))
        if report.added:
            print(f"indexed {report.added} docs in {time.perf_counter() - t:.0f}s", file=sys.stderr)
    if build_only:
        sys.exit(0)
    search_engine = SearchEngine(engine, settings, encoder=encoder)
    idx = search_engine.indexes
    assert idx is not None
    docs = doc_ids_by_rowid(engine)
    indexed = {r: d for r, d in docs.items() if r in idx.pooled}
    kept = set(indexed.values())
    qrels = {q: {d: g for d, g in rel.items() if d in kept} for q, rel in dataset.qrels.items()}
    qrels = {q: rel for q, rel in qrels.items() if any(g > 0 for g in rel.values())}
    if len(indexed) < len(docs):
        print(f"partial index: {len(indexed)}/{len(docs)} documents, {len(qrels)}/{len(dataset.qrels)} "
              f"queries with a relevant document in it", file=sys.stderr)
    out = []
    for qid, text in dataset.queries.items():
        if qid not in qrels:
            continue
        result = search_engine.search(text, mode=mode, k=depth * 2)  # type: ignore[arg-type]
        hits = [h for h in result.hits if h.rowid in indexed][:depth]
        vectors = pooled_vectors(idx.pooled, [h.rowid for h in hits])
        dim = idx.pooled.dim
        out.append((qid, [docs[h.rowid] for h in hits], np.array([h.score for h in hits]),
                    np.stack([vectors.get(h.rowid, np.zeros(dim, np.float32)) for h in hits])))
    return out, qrels


def sweep(runs: list, qrels: dict, method: str) -> list[tuple[float, float, float]]:
    """(knob, mean nDCG@10, mean ILS@10) for every knob value."""
    rows = []
    for knob in KNOBS:
        ndcg, ils = [], []
        for qid, ids, scores, vectors in runs:
            order = (dpp_order if method == "dpp" else mmr_order)(scores, vectors, knob, 10)[:10]
            ndcg.append(ndcg_at_k([ids[i] for i in order], qrels[qid], 10))
            ils.append(intra_list_similarity(vectors[order]))
        rows.append((knob, float(np.mean(ndcg)), float(np.mean(ils))))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/paperscope-diversity"))
    parser.add_argument("--mode", default="hybrid")
    parser.add_argument("--candidates", type=int, default=100)
    parser.add_argument("--no-build", action="store_true", help="Use the index as it is (maybe partial).")
    parser.add_argument("--build-only", action="store_true", help="Only extend the index.")
    args = parser.parse_args()
    if not (SCIFACT / "corpus.jsonl").is_file():
        sys.exit(f"SciFact not found at {SCIFACT}")
    runs, qrels = candidate_lists(args.workdir, args.mode, args.candidates, build=not args.no_build,
                                  build_only=args.build_only)
    t = time.perf_counter()
    dpp = sweep(runs, qrels, "dpp")
    dpp_s = time.perf_counter() - t
    mmr = sweep(runs, qrels, "mmr")
    print(f"SciFact test, {len(runs)} queries, top {args.candidates} {args.mode} candidates re-ranked "
          f"(DPP sweep: {dpp_s * 1000 / (len(runs) * len(KNOBS)):.2f} ms per query)\n")
    print("| θ / λ | DPP nDCG@10 | DPP ILS@10 | MMR nDCG@10 | MMR ILS@10 |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    for (knob, dn, di), (_, mn, mi) in zip(dpp, mmr, strict=True):
        print(f"| {knob:.2f} | {dn:.4f} | {di:.4f} | {mn:.4f} | {mi:.4f} |")
    print("\nAt equal quality (MMR point with the nearest nDCG@10, within 0.01):\n")
    print("| DPP θ | nDCG@10 | ILS@10 | MMR λ | nDCG@10 | ILS@10 | ILS DPP - MMR |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for knob, dn, di in dpp:
        if knob >= 1.0:
            continue
        near = min(mmr, key=lambda row, target=dn: abs(row[1] - target))
        if abs(near[1] - dn) > 0.01:
            continue
        print(f"| {knob:.2f} | {dn:.4f} | {di:.4f} | {near[0]:.2f} | {near[1]:.4f} | {near[2]:.4f} | "
              f"{di - near[2]:+.4f} |")


if __name__ == "__main__":
    main()
