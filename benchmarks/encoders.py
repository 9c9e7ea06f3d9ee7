"""Compare candidate encoders side by side: SciFact test nDCG@10 (pooled cosine and token MaxSim, exact
brute force) and documents per second.

    .venv/bin/python benchmarks/encoders.py                      # bundled MiniLM variants
    .venv/bin/python benchmarks/encoders.py --model-dir bge=/path/to/onnx-dir   # plus a local model

Encoded corpora are cached under --cache (keyed by candidate name) so re-runs only re-time encoding.
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from record import save_record

from paperscope.embed import Encoded, ModelSpec, OnnxEncoder, paper_text
from paperscope.embed.bundled import BUNDLED_MAX_LENGTH, bundled_files, bundled_spec, model_dir_spec
from paperscope.embed.quantize import dynamic_int8
from paperscope.settings import Settings

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SCIFACT = REPO.parent / "shared" / "data" / "scifact"


def load_scifact(root: Path) -> tuple[list[str], list[str], list[str], list[str], dict[str, dict[str, int]]]:
    """(doc ids, doc texts, test query ids, query texts, qrels) of BEIR SciFact's test split."""
    doc_ids, doc_texts = [], []
    with (root / "corpus.jsonl").open() as fh:
        for line in fh:
            row = json.loads(line)
            doc_ids.append(str(row["_id"]))
            doc_texts.append(paper_text(row.get("title", ""), row.get("text", "")))
    qrels: dict[str, dict[str, int]] = {}
    with (root / "qrels" / "test.tsv").open() as fh:
        next(fh)
        for line in fh:
            qid, did, score = line.rstrip("\n").split("\t")
            qrels.setdefault(qid, {})[did] = int(score)
    queries = {}
    with (root / "queries.jsonl").open() as fh:
        for line in fh:
            row = json.loads(line)
            queries[str(row["_id"])] = row["text"]
    query_ids = [q for q in qrels if q in queries]
    return doc_ids, doc_texts, query_ids, [queries[q] for q in query_ids], qrels


def sub_corpus(doc_ids: list[str], doc_texts: list[str], qrels: dict[str, dict[str, int]],
               size: int) -> tuple[list[str], list[str]]:
    """Every document judged for a test query plus a fixed random sample of the rest, `size` in all."""
    judged = {d for rel in qrels.values() for d in rel}
    keep = [i for i, d in enumerate(doc_ids) if d in judged]
    others = [i for i, d in enumerate(doc_ids) if d not in judged]
    rng = np.random.default_rng(0)
    extra = max(0, min(len(others), size - len(keep)))
    keep += [int(i) for i in rng.choice(others, size=extra, replace=False)]
    keep.sort()
    return [doc_ids[i] for i in keep], [doc_texts[i] for i in keep]


def ndcg_at_10(rankings: list[list[str]], query_ids: list[str], qrels: dict[str, dict[str, int]]) -> float:
    """Mean nDCG@10 with graded gains, as BEIR's evaluator computes it."""
    scores = []
    for qid, ranked in zip(query_ids, rankings, strict=True):
        rel = qrels[qid]
        dcg = sum(rel.get(d, 0) / np.log2(i + 2) for i, d in enumerate(ranked[:10]))
        ideal = sorted(rel.values(), reverse=True)[:10]
        idcg = sum(g / np.log2(i + 2) for i, g in enumerate(ideal))
        scores.append(dcg / idcg if idcg else 0.0)
    return float(np.mean(scores))


def pack(encoded: list[Encoded]) -> dict[str, np.ndarray]:
    """Pooled matrix + all token rows concatenated (float16 to halve memory) + per-text offsets."""
    lengths = np.array([e.tokens.shape[0] for e in encoded])
    return {"pooled": np.stack([e.pooled for e in encoded]),
            "tokens": np.concatenate([e.tokens for e in encoded]).astype(np.float16),
            "offsets": np.concatenate([[0], np.cumsum(lengths)[:-1]])}


def maxsim_scores(queries: list[Encoded], docs: dict[str, np.ndarray],
                  docs_per_block: int = 64) -> np.ndarray:
    """Exact ColBERT MaxSim, (n_queries, n_docs): per query token the best document token, summed."""
    query_tokens = np.concatenate([q.tokens for q in queries])
    query_offsets = np.concatenate([[0], np.cumsum([q.tokens.shape[0] for q in queries])[:-1]])
    doc_tokens, offsets = docs["tokens"], docs["offsets"]
    ends = np.append(offsets[1:], doc_tokens.shape[0])
    scores = np.empty((len(queries), len(offsets)), dtype=np.float32)
    for d0 in range(0, len(offsets), docs_per_block):
        d1 = min(len(offsets), d0 + docs_per_block)
        lo, hi = offsets[d0], ends[d1 - 1]
        sims = doc_tokens[lo:hi].astype(np.float32) @ query_tokens.T  # (block tokens, all query tokens)
        best = np.maximum.reduceat(sims, offsets[d0:d1] - lo, axis=0)  # (block docs, all query tokens)
        scores[:, d0:d1] = np.add.reduceat(best, query_offsets, axis=1).T
    return scores


def time_encoding(encoder: OnnxEncoder, texts: list[str], repeats: int,
                  batch_size: int) -> tuple[float, float]:
    """Median docs/s over `repeats` runs: (wall clock, CPU-time based). CPU-time based = docs per
    (process CPU seconds / cores), which stays meaningful when other jobs share the machine."""
    from paperscope.embed.onnx_model import available_cores

    wall, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        encoder.encode_documents(texts, batch_size=batch_size)
        wall.append(len(texts) / (time.perf_counter() - t0))
        cpu.append(len(texts) * available_cores() / (time.process_time() - c0))
    return statistics.median(wall), statistics.median(cpu)


def candidates(settings: Settings, model_dirs: list[str]) -> dict[str, Callable[[], ModelSpec]]:
    """Named spec factories; factories so a conversion only runs for the candidates asked for."""
    graph, tokenizer = bundled_files()
    found: dict[str, Callable[[], ModelSpec]] = {
        "minilm-int8-weights": lambda: bundled_spec(settings, dynamic=False),
        "minilm-dynint8-per-channel": lambda: bundled_spec(settings, dynamic=True),
        "minilm-dynint8-per-tensor": lambda: ModelSpec(
            onnx_path=dynamic_int8(graph, settings.home / "models", "all-MiniLM-L6-v2", per_channel=False),
            tokenizer_path=tokenizer, name="minilm-dynint8-per-tensor", max_length=BUNDLED_MAX_LENGTH),
    }
    for item in model_dirs:
        name, _, path = item.partition("=")
        found[name] = functools.partial(model_dir_spec, Path(path))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scifact", type=Path, default=DEFAULT_SCIFACT)
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "paperscope-encoders")
    parser.add_argument("--home", type=Path, default=Path(tempfile.gettempdir()) / "paperscope-encoders-home",
                        help="PAPERSCOPE_HOME for converted models")
    parser.add_argument("--only", nargs="*", help="candidate names to run (default: all)")
    parser.add_argument("--model-dir", action="append", default=[], metavar="NAME=PATH")
    parser.add_argument("--speed-docs", type=int, default=256, help="docs timed for throughput")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--quality", nargs="*", help="candidates to score on SciFact (default: all)")
    parser.add_argument("--max-docs", type=int, default=0,
                        help="score on a sub-corpus: every judged test doc + random others up to this many "
                             "(for a loaded machine; not comparable with full-corpus nDCG)")
    parser.add_argument("--tag", default="", help="the record's variant (keeps a comparison run apart)")
    args = parser.parse_args()

    doc_ids, doc_texts, query_ids, query_texts, qrels = load_scifact(args.scifact)
    if args.max_docs:
        doc_ids, doc_texts = sub_corpus(doc_ids, doc_texts, qrels, args.max_docs)
    settings = Settings(home=args.home)
    speed_texts = doc_texts[:args.speed_docs]
    specs = candidates(settings, args.model_dir)
    names = args.only or list(specs)
    encoders = {name: OnnxEncoder(specs[name]()) for name in names}
    rows: dict[str, dict[str, object]] = {name: {"name": name} for name in names}
    timings: dict[str, list[tuple[float, float]]] = {name: [] for name in names}
    # Interleave the timing runs so a burst of load from another process hits every candidate alike.
    for _ in range(args.repeats):
        for name, encoder in encoders.items():
            timings[name].append(time_encoding(encoder, speed_texts, 1, args.batch_size))
    reference = encoders[names[0]].encode_documents(speed_texts)
    for name, encoder in encoders.items():
        row = rows[name]
        row["docs_per_s"] = round(statistics.median(t[0] for t in timings[name]), 1)
        row["docs_per_cpu_s"] = round(statistics.median(t[1] for t in timings[name]), 1)
        pooled_cos = [float(a.pooled @ b.pooled)
                      for a, b in zip(encoder.encode_documents(speed_texts), reference, strict=True)]
        row[f"pooled_cos_to_{names[0]}"] = {"mean": round(float(np.mean(pooled_cos)), 4),
                                            "min": round(float(np.min(pooled_cos)), 4)}
        print(json.dumps(row), flush=True)
    for name in args.quality if args.quality is not None else names:
        row = rows[name]
        row["corpus_docs"] = len(doc_ids)
        row.update(quality(encoders[name], name, args.cache, doc_ids, doc_texts,
                           query_ids, query_texts, qrels))
        print(json.dumps(row), flush=True)
    save_record("encoders", [{k: (f"{v['mean']} / {v['min']}" if isinstance(v, dict) else v)
                              for k, v in r.items()} for r in rows.values()], variant=args.tag,
                title="Encoder candidates: speed, agreement with the first (cosine mean / min), quality.")


def quality(encoder: OnnxEncoder, name: str, cache: Path, doc_ids: list[str], doc_texts: list[str],
            query_ids: list[str], query_texts: list[str],
            qrels: dict[str, dict[str, int]]) -> dict[str, float]:
    """SciFact test nDCG@10 of pooled cosine and of token MaxSim, both exact."""
    path = cache / f"{name}-{len(doc_texts)}.npz"
    if path.is_file():
        docs = dict(np.load(path))
    else:
        cache.mkdir(parents=True, exist_ok=True)
        encoded: list[Encoded] = []
        started = time.perf_counter()
        for start in range(0, len(doc_texts), 512):
            encoded += encoder.encode_documents(doc_texts[start:start + 512])
            print(f"{name}: {len(encoded)}/{len(doc_texts)} docs, "
                  f"{len(encoded) / (time.perf_counter() - started):.1f} docs/s", file=sys.stderr, flush=True)
        docs = pack(encoded)
        np.savez(path.with_suffix(".tmp.npz"), pooled=docs["pooled"], tokens=docs["tokens"],
                 offsets=docs["offsets"])
        path.with_suffix(".tmp.npz").rename(path)
    queries = encoder.encode_queries(query_texts)
    pooled_scores = np.stack([q.pooled for q in queries]) @ docs["pooled"].T
    pooled_rank = [[doc_ids[i] for i in np.argsort(-s)[:10]] for s in pooled_scores]
    maxsim_rank = [[doc_ids[i] for i in np.argsort(-s)[:10]] for s in maxsim_scores(queries, docs)]
    return {"ndcg10_pooled": round(ndcg_at_10(pooled_rank, query_ids, qrels), 4),
            "ndcg10_maxsim": round(ndcg_at_10(maxsim_rank, query_ids, qrels), 4)}


if __name__ == "__main__":
    main()
