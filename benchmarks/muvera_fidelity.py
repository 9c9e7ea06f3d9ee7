"""Benchmark 2: how well MUVERA FDE candidate generation finds the exact-MaxSim top-10, against the
single-vector heuristic, plus the cost of compressing the token store.

    .venv/bin/python benchmarks/muvera_fidelity.py [--arxiv 5000] [--cache /tmp/paperscope-muvera]

For every query the exact MaxSim (Chamfer) top-10 over the whole corpus is the target. We report how many
candidates each method needs for 80/90/95% mean recall of that top-10:
  * FDE: the top-N documents by FDE inner product (brute force, and through the HNSW index as deployed);
  * single-vector heuristic (SV): each query token fetches its k' nearest document tokens, hits are
    deduplicated by paper, and the candidate count is the number of distinct papers (the MUVERA paper's
    baseline). Token neighbours are found exhaustively, the best an HNSW over tokens could do, so the
    FDE/SV ratio reported is conservative.
Token store: bytes per paper and MaxSim nDCG@10 on SciFact, compressed vs uncompressed float32.
Encodings are cached under --cache. The encoder runs ~15-20 docs/s on an idle 2-core machine (far less
under load), so by default SciFact is cut to 1,500 documents: every document judged relevant for a test
query plus the first others (--scifact-docs 0 for all 5,183).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

# Multi-threaded OpenBLAS stalls on small products when the 2 cores are busy (a 20x384 @ 384x100 product
# took 165 ms instead of <1 ms under load); FDE work is many small products, so keep BLAS single-threaded.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from record import save_record  # noqa: E402

from paperscope.embed import load_encoder, paper_text
from paperscope.embed.bundled import model_dir_spec
from paperscope.index.ann import AnnIndex
from paperscope.index.fde import FDE, FDEConfig
from paperscope.index.tokens import TokenStore
from paperscope.settings import Settings

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SCIFACT = SHARED / "scifact"
ARXIV = SHARED / "arxiv-2025-2026.jsonl.gz"
TARGETS = (0.8, 0.9, 0.95)
# Set by --model-dir: the user model's name, added to each record's variant (empty: the bundled MiniLM).
MODEL_LABEL = ""


@dataclass
class Corpus:
    """Encoded documents and queries of one benchmark corpus."""

    name: str
    doc_ids: list[str]
    doc_tokens: list[np.ndarray]
    query_ids: list[str]
    query_tokens: list[np.ndarray]
    qrels: dict[str, set[str]]  # empty when there are no relevance judgements


def _pack(mats: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    lengths = np.array([len(m) for m in mats], dtype=np.int64)
    return np.concatenate(mats).astype(np.float16), lengths


def _unpack(flat: np.ndarray, lengths: np.ndarray) -> list[np.ndarray]:
    return [m.astype(np.float32) for m in np.split(flat, np.cumsum(lengths)[:-1])]


def encode_cached(cache: Path, name: str, texts: list[str], *, queries: bool) -> list[np.ndarray]:
    """Token matrices of ``texts``, encoded once and kept (fp16) under ``cache`` in chunks of 128 texts,
    so a killed run resumes where it stopped."""
    chunk = 128
    out: list[np.ndarray] = []
    encoder = None
    started = time.perf_counter()
    for start in range(0, len(texts), chunk):
        path = cache / f"{name}-{len(texts)}-{start:06d}.npz"
        if path.exists():
            with np.load(path) as data:
                out.extend(_unpack(data["tokens"], data["lengths"]))
            continue
        if encoder is None:
            encoder = load_encoder(Settings())
        batch = texts[start : start + chunk]
        encoded = encoder.encode_queries(batch) if queries else encoder.encode_documents(batch)
        mats = [e.tokens for e in encoded]
        out.extend(m.astype(np.float16).astype(np.float32) for m in mats)
        cache.mkdir(parents=True, exist_ok=True)
        flat, lengths = _pack(mats)
        tmp = cache / f".{path.stem}.tmp.npz"
        np.savez(tmp, tokens=flat, lengths=lengths)
        tmp.replace(path)
        rate = (start + len(batch)) / (time.perf_counter() - started)
        print(f"  {name}: {start + len(batch)}/{len(texts)} ({rate:.1f}/s)", file=sys.stderr, flush=True)
    return out


def load_scifact(cache: Path, n_docs: int) -> Corpus:
    """SciFact test queries; the corpus is every document judged for them plus the first others up to
    ``n_docs`` (all 5,183 when n_docs is 0)."""
    docs = [json.loads(line) for line in (SCIFACT / "corpus.jsonl").open()]
    queries = {q["_id"]: q["text"] for q in map(json.loads, (SCIFACT / "queries.jsonl").open())}
    qrels: dict[str, set[str]] = {}
    for line in (SCIFACT / "qrels" / "test.tsv").read_text().splitlines()[1:]:
        qid, did, score = line.split("\t")
        if int(score) > 0:
            qrels.setdefault(qid, set()).add(did)
    if n_docs:
        judged = set().union(*qrels.values())
        kept = [d for d in docs if d["_id"] in judged]
        kept += [d for d in docs if d["_id"] not in judged][: max(0, n_docs - len(kept))]
        docs = kept
    query_ids = sorted(qrels, key=int)
    texts = [paper_text(d["title"], d["text"]) for d in docs]
    doc_tokens = encode_cached(cache, "scifact-docs", texts, queries=False)
    query_tokens = encode_cached(cache, "scifact-queries", [queries[q] for q in query_ids], queries=True)
    name = f"SciFact ({len(docs)} of 5,183 docs)" if n_docs else "SciFact"
    return Corpus(name, [d["_id"] for d in docs], doc_tokens, query_ids, query_tokens, qrels)


def load_arxiv(cache: Path, n_docs: int, n_queries: int = 300) -> Corpus:
    """The first ``n_docs`` papers of the snapshot; queries are titles of the next ``n_queries`` papers
    (unseen papers, so a query's own abstract is not in the corpus)."""
    papers = []
    with gzip.open(ARXIV, "rt") as fh:
        for line in fh:
            papers.append(json.loads(line))
            if len(papers) >= n_docs + n_queries:
                break
    docs, held_out = papers[:n_docs], papers[n_docs:]
    doc_tokens = encode_cached(
        cache, f"arxiv{n_docs}-docs", [paper_text(p["title"], p["abstract"]) for p in docs], queries=False
    )
    query_tokens = encode_cached(
        cache, f"arxiv{n_docs}-queries", [" ".join(p["title"].split()) for p in held_out], queries=True
    )
    return Corpus(
        f"arXiv {n_docs}", [p["id"] for p in docs], doc_tokens, [p["id"] for p in held_out], query_tokens, {}
    )


# -- exact MaxSim -----------------------------------------------------------------------------------------


def exact_pass(corpus: Corpus, cache: Path, per_token: int) -> tuple[np.ndarray, np.ndarray]:
    """One exhaustive pass over all document tokens per query (cached):

    * Chamfer scores of every query against every document, ``(n_queries, n_docs)``;
    * for every query token, the documents of its ``per_token`` nearest document tokens, best first,
      ``(total query tokens, per_token)`` - the single-vector heuristic with exact token search.
    """
    path = cache / f"{corpus.name.split(' ')[0]}-{len(corpus.doc_tokens)}-exact-{per_token}.npz"
    if path.exists():
        with np.load(path) as data:
            return data["scores"], data["token_hits"]
    lengths = np.array([len(d) for d in corpus.doc_tokens])
    bounds = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    doc_of_token = np.repeat(np.arange(len(lengths)), lengths)
    flat = np.concatenate(corpus.doc_tokens)
    scores = np.zeros((len(corpus.query_tokens), len(lengths)), dtype=np.float32)
    token_hits = []
    for qi, query in enumerate(corpus.query_tokens):
        sims = query @ flat.T
        scores[qi] = np.maximum.reduceat(sims, bounds, axis=1).sum(axis=0)
        token_hits.append(doc_of_token[top_k(sims, per_token)])
    hits = np.concatenate(token_hits)
    np.savez(path, scores=scores, token_hits=hits)
    return scores, hits


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    part = np.argpartition(-scores, k, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1)
    return np.take_along_axis(part, order, axis=1)


def ndcg_at_10(ranked: np.ndarray, corpus: Corpus) -> float:
    """Mean nDCG@10 with binary relevance from the qrels."""
    total = 0.0
    for qi, qid in enumerate(corpus.query_ids):
        relevant = corpus.qrels.get(qid, set())
        gains = [1.0 if corpus.doc_ids[d] in relevant else 0.0 for d in ranked[qi][:10]]
        dcg = sum(g / np.log2(i + 2) for i, g in enumerate(gains))
        ideal = sum(1.0 / np.log2(i + 2) for i in range(min(10, len(relevant))))
        total += dcg / ideal if ideal else 0.0
    return total / len(corpus.query_ids)


# -- candidates needed for a recall target -----------------------------------------------------------------


def needed_from_ranking(candidates: list[np.ndarray], truth: np.ndarray) -> dict[float, int | None]:
    """For rankings (one per query, best first): smallest N whose top-N holds ``target`` of the true top-10
    on average over queries. None when the ranking never gets there."""
    longest = max(len(c) for c in candidates)
    hits_at = np.zeros(longest + 1)
    for ranking, target in zip(candidates, truth, strict=True):
        positions = np.flatnonzero(np.isin(ranking, target))
        np.add.at(hits_at, positions + 1, 1.0)
    recall = np.cumsum(hits_at) / truth.size
    return {t: (int(np.argmax(recall >= t)) if recall[-1] >= t else None) for t in TARGETS}


def single_vector_heuristic(corpus: Corpus, truth: np.ndarray, token_hits: np.ndarray) -> list[dict]:
    """Per k' (nearest document tokens fetched per query token): mean distinct papers, mean recall."""
    query_of_row = np.repeat(np.arange(len(corpus.query_tokens)), [len(q) for q in corpus.query_tokens])
    rows = []
    # Every k' up to 32, then steps of 8, then doubling: coarse power-of-two steps overstated SV's
    # candidate counts by up to ~1.8x (k'=16 reached 0.894 on SciFact, so "90%" became k'=32's 257).
    steps = list(range(1, 33)) + list(range(40, 129, 8))
    steps += [k for k in (256, 512, 1024) if k > steps[-1]]
    for k_prime in (k for k in steps if k <= token_hits.shape[1]):
        counts, recalls = [], []
        for qi, target in enumerate(truth):
            docs = np.unique(token_hits[query_of_row == qi, :k_prime])
            counts.append(len(docs))
            recalls.append(np.isin(target, docs).mean())
        rows.append(
            {"k_prime": k_prime, "candidates": float(np.mean(counts)), "recall": float(np.mean(recalls))}
        )
    return rows


def sv_first(rows: list[dict]) -> dict[float, dict | None]:
    """For each target, the row of the first k' whose mean recall reaches it (None if none does)."""
    return {t: next((r for r in rows if r["recall"] >= t), None) for t in TARGETS}


def sv_needed(rows: list[dict]) -> dict[float, float | None]:
    """Mean distinct candidates at the first k' whose mean recall reaches each target."""
    return {t: (r["candidates"] if r else None) for t, r in sv_first(rows).items()}


# -- FDE variants ----------------------------------------------------------------------------------------


@dataclass
class Variant:
    label: str
    config: FDEConfig
    storage: str  # "brute" (float32 exhaustive) or an AnnIndex dtype
    bytes_per_doc: int


def run_fde(corpus: Corpus, truth: np.ndarray, variant: Variant, depth: int) -> tuple[dict, list[np.ndarray]]:
    """Rankings of the top ``depth`` documents per query and the candidates needed for each target."""
    encoder = FDE(variant.config)
    started = time.perf_counter()
    doc_fdes = encoder.encode_documents(corpus.doc_tokens)
    per_doc_ms = (time.perf_counter() - started) * 1000 / len(corpus.doc_tokens)
    started = time.perf_counter()
    query_fdes = np.stack([encoder.encode_query(q) for q in corpus.query_tokens])
    per_query_ms = (time.perf_counter() - started) * 1000 / len(corpus.query_tokens)
    if variant.storage == "brute":
        rankings = list(top_k(query_fdes @ doc_fdes.T, min(depth, len(doc_fdes) - 1)))
    else:
        index = AnnIndex.create(
            Path(tempfile.mkdtemp()) / "fde.usearch", dim=encoder.config.output_dim, dtype=variant.storage
        )
        index.add(np.arange(len(doc_fdes)), doc_fdes)
        rankings = [index.search(q, depth, ef=depth)[0] for q in query_fdes]
    needed = needed_from_ranking(rankings, truth)
    return {
        "label": variant.label,
        "bytes": variant.bytes_per_doc,
        "needed": needed,
        "encode_doc_ms": per_doc_ms,
        "encode_query_ms": per_query_ms,
    }, rankings


def token_store_costs(corpus: Corpus, exact: np.ndarray, fde_rankings: list[np.ndarray]) -> list[dict]:
    """nDCG@10 after MaxSim re-ranking with compressed tokens, per compression setting.

    Re-ranks the exact top-100 (a compressed store can only reorder near the top) and, end to end, the
    top-200 candidates of the deployed FDE index."""
    candidates = top_k(exact, 100)
    rng = np.random.default_rng(0)
    sample_docs = rng.choice(len(corpus.doc_tokens), size=min(2000, len(corpus.doc_tokens)), replace=False)
    sample = np.concatenate([corpus.doc_tokens[i] for i in sample_docs])
    n_tokens = sum(len(d) for d in corpus.doc_tokens)
    rows = [
        {
            "label": "float32, 384 dims (exact)",
            "bytes": n_tokens * 384 * 4 / len(corpus.doc_tokens),
            "ndcg": ndcg_at_10(top_k(exact, 10), corpus),
            "e2e": None,
        },
        {
            "label": "fp16, 384 dims",
            "bytes": n_tokens * 384 * 2 / len(corpus.doc_tokens),
            "ndcg": None,
            "e2e": None,
        },
    ]
    for reduced in (384, 128, 96, 64, 48):
        store = TokenStore.create(Path(tempfile.mkdtemp()) / "tokens", dim=384, reduced_dim=reduced)
        store.fit(sample)
        store.add(np.arange(len(corpus.doc_tokens)), corpus.doc_tokens)
        store.flush()
        reranked, e2e = [], []
        for qi, query in enumerate(corpus.query_tokens):
            scores = store.maxsim(query, candidates[qi])
            reranked.append(candidates[qi][np.argsort(-scores)])
            pool = fde_rankings[qi][:200]
            e2e.append(pool[np.argsort(-store.maxsim(query, pool))])
        rows.append(
            {
                "label": f"PCA {reduced} + int8" if reduced < 384 else "int8, 384 dims",
                "bytes": store.bytes_on_disk() / len(store),
                "ndcg": ndcg_at_10(np.array([r[:10] for r in reranked]), corpus),
                "e2e": ndcg_at_10(np.array([r[:10] for r in e2e]), corpus),
            }
        )
    return rows


def end_to_end(corpus: Corpus, ann_rankings: dict[str, list[np.ndarray]]) -> dict[str, list[float]]:
    """nDCG@10 of the deployed pipeline: N candidates from an FDE HNSW, re-ranked by MaxSim over the
    PCA-128 + int8 token store."""
    store = TokenStore.create(Path(tempfile.mkdtemp()) / "tokens", dim=384, reduced_dim=128)
    rng = np.random.default_rng(0)
    picks = rng.choice(len(corpus.doc_tokens), size=min(2000, len(corpus.doc_tokens)), replace=False)
    store.fit(np.concatenate([corpus.doc_tokens[i] for i in picks]))
    store.add(np.arange(len(corpus.doc_tokens)), corpus.doc_tokens)
    out: dict[str, list[float]] = {}
    for label, rankings in ann_rankings.items():
        row = []
        for depth in (100, 200, 500):
            ranked = []
            for qi, query in enumerate(corpus.query_tokens):
                pool = rankings[qi][:depth]
                ranked.append(pool[np.argsort(-store.maxsim(query, pool))][:10])
            row.append(ndcg_at_10(np.array(ranked), corpus))
        out[label] = row
    return out


def fmt(value: float | None, suffix: str = "") -> str:
    return "not reached" if value is None else f"{value:,.0f}{suffix}"


def report(corpus: Corpus, cache: Path, with_store: bool) -> None:
    print(
        f"\n### {corpus.name}: {len(corpus.doc_tokens)} docs, {len(corpus.query_tokens)} queries, "
        f"{np.mean([len(d) for d in corpus.doc_tokens]):.0f} tokens/doc\n"
    )
    exact, token_hits = exact_pass(corpus, cache, per_token=min(512, len(corpus.doc_tokens)))
    truth = top_k(exact, 10)
    depth = min(2000, len(corpus.doc_tokens) - 1)
    sv_rows = single_vector_heuristic(corpus, truth, token_hits)
    sv = sv_needed(sv_rows)
    variants = [
        Variant("FDE 10,240-d, exhaustive float32", FDEConfig(dim=384), "brute", 10240 * 4),
        Variant("FDE 10,240-d, HNSW f16", FDEConfig(dim=384), "f16", 10240 * 2),
        Variant("FDE -> 2,048-d Count-Sketch, HNSW i8", FDEConfig(dim=384, final_dim=2048), "i8", 2048),
        Variant("FDE -> 1,024-d Count-Sketch, HNSW f16", FDEConfig(dim=384, final_dim=1024), "f16", 2048),
        Variant("FDE -> 512-d Count-Sketch, HNSW f16", FDEConfig(dim=384, final_dim=512), "f16", 1024),
        # Shape alternatives at similar size, exhaustive, to see whether the defaults are the right trade.
        Variant(
            "FDE k_sim=4, d_proj=32 (20,480-d), exhaustive",
            FDEConfig(dim=384, k_sim=4, d_proj=32),
            "brute",
            20480 * 4,
        ),
        # Native 2,048-d shapes (no Count-Sketch): 2 KB per paper at i8.
        Variant(
            "FDE R=32, k_sim=3, d_proj=8 (2,048-d), HNSW i8",
            FDEConfig(dim=384, r_reps=32, k_sim=3, d_proj=8),
            "i8",
            2048,
        ),
        Variant(
            "FDE R=8, k_sim=3, d_proj=32 (2,048-d), HNSW i8",
            FDEConfig(dim=384, r_reps=8, k_sim=3, d_proj=32),
            "i8",
            2048,
        ),
        Variant("FDE R=40 (20,480-d), exhaustive", FDEConfig(dim=384, r_reps=40), "brute", 20480 * 4),
        # Fewer, wider buckets and more repetitions at the same sizes (session 5 sweep on SciFact).
        Variant(
            "FDE R=80, k_sim=3, d_proj=16 (10,240-d), exhaustive",
            FDEConfig(dim=384, r_reps=80, k_sim=3, d_proj=16),
            "brute",
            10240 * 4,
        ),
        Variant(
            "FDE R=64, k_sim=2, d_proj=8 (2,048-d), HNSW i8",
            FDEConfig(dim=384, r_reps=64, k_sim=2, d_proj=8),
            "i8",
            2048,
        ),
    ]
    results, deployed = [], []
    ann_rankings: dict[str, list[np.ndarray]] = {}
    for variant in variants:
        result, rankings = run_fde(corpus, truth, variant, depth)
        results.append(result)
        if variant.storage == "i8" and not deployed:
            deployed = rankings
        if variant.storage != "brute":
            ann_rankings[variant.label] = rankings
        print(f"  {variant.label}: {result['needed']}", file=sys.stderr, flush=True)
    # Baseline: one mean-pooled vector per text (what dense mode indexes), exhaustive.
    pooled_docs = np.stack([d.mean(axis=0) / np.linalg.norm(d.mean(axis=0)) for d in corpus.doc_tokens])
    pooled_queries = np.stack([q.mean(axis=0) / np.linalg.norm(q.mean(axis=0)) for q in corpus.query_tokens])
    pooled_rank = list(top_k(pooled_queries @ pooled_docs.T, depth))
    ann_rankings["mean-pooled vector, exhaustive"] = pooled_rank
    results.append(
        {
            "label": "mean-pooled vector (dense mode), exhaustive",
            "bytes": 384 * 4,
            "needed": needed_from_ranking(pooled_rank, truth),
        }
    )
    print("| method | bytes/paper in the ANN index | candidates for 80% | 90% | 95% | 90%: SV / method |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    print(
        f"| single-vector heuristic (exact token search, dedup by paper) | {384 * 2} per token | "
        + " | ".join(fmt(sv[t]) for t in TARGETS)
        + " | 1.0x |"
    )
    for r in results:
        ratio = f"{sv[0.9] / r['needed'][0.9]:.1f}x" if sv[0.9] and r["needed"][0.9] else "n/a"
        print(
            f"| {r['label']} | {r['bytes']:,} | "
            + " | ".join(fmt(r["needed"][t]) for t in TARGETS)
            + f" | {ratio} |"
        )
    shown = [r for r in sv_rows if r["k_prime"] & (r["k_prime"] - 1) == 0 or r is sv_rows[-1]]
    print(
        "\nSV heuristic curve (k' tokens per query token -> mean distinct papers, mean recall; every k' up to"
        " 32 is measured, powers of two shown): "
        + ", ".join(f"{r['k_prime']}: {r['candidates']:.0f} / {r['recall']:.3f}" for r in shown)
    )
    for t, first in sv_first(sv_rows).items():
        if first:
            print(f"SV reaches {t:.0%} at k'={first['k_prime']}: {first['candidates']:.0f} candidates")
    save_record("muvera_fidelity", [
        {"method": "single-vector heuristic (exact token search, dedup by paper)",
         "ann_bytes_per_paper": f"{384 * 2} per token",
         **{f"candidates_for_{t:.0%}": fmt(sv[t]) for t in TARGETS},
         "sv_over_method_at_90pct": "1.0x"},
        *({"method": r["label"], "ann_bytes_per_paper": r["bytes"],
           **{f"candidates_for_{t:.0%}": fmt(r["needed"][t]) for t in TARGETS},
           "sv_over_method_at_90pct": f"{sv[0.9] / r['needed'][0.9]:.1f}x" if sv[0.9] and r["needed"][0.9]
           else "n/a"} for r in results)],
        variant=corpus.name + (f", model {MODEL_LABEL}" if MODEL_LABEL else ""),
        title=f"Candidates each method needs to hold the exact MaxSim top-10: {corpus.name}"
              + (f", encoder {MODEL_LABEL}." if MODEL_LABEL else "."))
    r0 = results[0]
    assert "encode_doc_ms" in r0
    print(
        f"\nFDE encode time (10,240-d): {r0['encode_doc_ms']:.2f} ms per document (batched), "
        f"{r0['encode_query_ms']:.2f} ms per query"
    )
    if with_store:
        print(
            "\n| token store | bytes/paper | MaxSim nDCG@10 (re-rank exact top-100) "
            "| end to end: FDE i8 top-200 -> MaxSim |"
        )
        print("| --- | ---: | ---: | ---: |")
        for row in token_store_costs(corpus, exact, deployed):
            ndcg = "-" if row["ndcg"] is None else f"{row['ndcg']:.4f}"
            e2e = "-" if row["e2e"] is None else f"{row['e2e']:.4f}"
            print(f"| {row['label']} | {row['bytes']:,.0f} | {ndcg} | {e2e} |")
    if corpus.qrels:
        print("\n| candidates -> MaxSim over PCA 128 + int8 tokens: nDCG@10 | top-100 | top-200 | top-500 |")
        print("| --- | ---: | ---: | ---: |")
        for label, rankings in end_to_end(corpus, ann_rankings).items():
            print(f"| {label} | " + " | ".join(f"{v:.4f}" for v in rankings) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cache", type=Path, default=Path("/tmp/paperscope-muvera"))
    parser.add_argument("--scifact-docs", type=int, default=1500, help="corpus size (0 = all 5,183)")
    parser.add_argument("--arxiv", type=int, default=0, help="also run on the first N arXiv papers")
    parser.add_argument("--no-store", action="store_true", help="skip the token-store measurements")
    parser.add_argument("--no-scifact", action="store_true", help="only the arXiv run (with --arxiv N)")
    parser.add_argument("--model-dir", type=Path, help="a user model directory instead of the bundled MiniLM "
                        "(give it its own --cache: encodings are cached by corpus, not by model)")
    parser.add_argument("--tag", default="", help="added to the records' variants (keeps a comparison apart)")
    args = parser.parse_args()
    global MODEL_LABEL
    if args.model_dir:
        os.environ["PAPERSCOPE_MODEL"] = str(args.model_dir)
        MODEL_LABEL = model_dir_spec(args.model_dir).name
    if args.tag:
        MODEL_LABEL = f"{MODEL_LABEL or 'bundled MiniLM'}, {args.tag}"
    if not args.no_scifact:
        if not SCIFACT.exists():
            sys.exit(f"SciFact not found at {SCIFACT}")
        report(load_scifact(args.cache, args.scifact_docs), args.cache, with_store=not args.no_store)
    if args.arxiv:
        report(load_arxiv(args.cache, args.arxiv), args.cache, with_store=False)


if __name__ == "__main__" and "--encode-only" in sys.argv:
    load_scifact(Path("/tmp/paperscope-muvera"), int(sys.argv[-1]))
    sys.exit(0)

if __name__ == "__main__":
    main()
