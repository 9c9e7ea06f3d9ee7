"""Evaluate search on any BEIR-layout dataset: corpus.jsonl, queries.jsonl, qrels/<split>.tsv.

The corpus is loaded into an ordinary paperscope store (each document a Paper whose key is
`doi:beir:<doc id>`), indexed by the normal pipeline, and queried through `SearchEngine`, so the
figures measure exactly what users run.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import sqlalchemy as sa

from paperscope.embed import Encoded
from paperscope.model import Paper
from paperscope.search.engine import SearchEngine
from paperscope.search.metrics import mrr_at_k, ndcg_at_k, percentile, recall_at_k
from paperscope.search.types import Mode
from paperscope.store import iter_papers, upsert_papers

_KEY_PREFIX = "beir:"


@dataclass
class BeirDataset:
    """A BEIR dataset: documents (id, title, text), queries of one split and their judgements."""

    corpus: list[tuple[str, str, str]]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]


def _jsonl(path: Path) -> Iterator[dict[str, object]]:
    with path.open("rb") as fh:
        for line in fh:
            if line.strip():
                yield orjson.loads(line)


def load_beir(root: Path, split: str = "test") -> BeirDataset:
    """Read a BEIR dataset folder; only queries judged in `split` are kept."""
    for name in ("corpus.jsonl", "queries.jsonl", f"qrels/{split}.tsv"):
        if not (root / name).is_file():
            raise FileNotFoundError(f"not a BEIR dataset (missing {name}): {root}")
    qrels: dict[str, dict[str, int]] = {}
    with (root / "qrels" / f"{split}.tsv").open(newline="") as fh:
        reader = csv.reader(fh, delimiter="\t")
        for row in reader:
            if len(row) < 3 or not row[2].lstrip("-").isdigit():
                continue  # header
            qrels.setdefault(row[0], {})[row[1]] = int(row[2])
    queries = {str(q["_id"]): str(q["text"]) for q in _jsonl(root / "queries.jsonl")
               if str(q["_id"]) in qrels}
    corpus = [(str(d["_id"]), str(d.get("title") or ""), str(d.get("text") or ""))
              for d in _jsonl(root / "corpus.jsonl")]
    return BeirDataset(corpus=corpus, queries=queries, qrels={q: qrels[q] for q in queries})


def load_corpus(engine: sa.Engine, dataset: BeirDataset, batch: int = 1000) -> None:
    """Put the corpus into the store (idempotent: re-running changes nothing)."""
    for i in range(0, len(dataset.corpus), batch):
        upsert_papers(engine, [Paper(title=title, abstract=text, doi=_KEY_PREFIX + doc_id,
                                     source="beir") for doc_id, title, text in dataset.corpus[i:i + batch]])


def doc_ids_by_rowid(engine: sa.Engine) -> dict[int, str]:
    """Row id -> BEIR document id for every document loaded by `load_corpus`."""
    found: dict[int, str] = {}
    for batch in iter_papers(engine, batch_size=5000):
        for p in batch:
            if p.doi and p.doi.startswith(_KEY_PREFIX) and p.rowid is not None:
                found[p.rowid] = p.doi[len(_KEY_PREFIX):]
    return found


@dataclass
class ModeReport:
    """Quality and latency of one mode over one split."""

    mode: str
    ndcg10: float = 0.0
    recall100: float = 0.0
    mrr10: float = 0.0
    queries: int = 0
    latency_ms: list[float] = field(default_factory=list)  # search only (query encoding excluded)
    encode_ms: list[float] = field(default_factory=list)  # query encoding, when the mode needs it

    def p(self, q: float, with_encoding: bool = True) -> float:
        if with_encoding and self.encode_ms:
            return percentile([a + b for a, b in zip(self.latency_ms, self.encode_ms, strict=True)], q)
        return percentile(self.latency_ms, q)


def rankings(search_engine: SearchEngine, dataset: BeirDataset, mode: Mode, depth: int,
             encoded: dict[str, Encoded], docs: dict[int, str],
             report: ModeReport, encode_ms: dict[str, float]) -> dict[str, list[str]]:
    """Run every query in `mode`, recording latency; return query id -> ranked document ids."""
    runs: dict[str, list[str]] = {}
    for qid, text in dataset.queries.items():
        t = time.perf_counter()
        result = search_engine.search(text, mode=mode, k=depth, encoded=encoded.get(qid))
        report.latency_ms.append((time.perf_counter() - t) * 1000)
        if result.mode != "bm25" and qid in encode_ms:
            report.encode_ms.append(encode_ms[qid])
        runs[qid] = [docs[h.rowid] for h in result.hits if h.rowid in docs]
    return runs


def score_runs(report: ModeReport, runs: dict[str, list[str]], dataset: BeirDataset) -> ModeReport:
    """Average nDCG@10, Recall@100 and MRR@10 of `runs` over the dataset's queries."""
    n = len(dataset.queries)
    report.queries = n
    report.ndcg10 = sum(ndcg_at_k(runs.get(q, []), dataset.qrels[q], 10) for q in dataset.queries) / max(n, 1)
    report.recall100 = sum(recall_at_k(runs.get(q, []), dataset.qrels[q], 100)
                           for q in dataset.queries) / max(n, 1)
    report.mrr10 = sum(mrr_at_k(runs.get(q, []), dataset.qrels[q], 10) for q in dataset.queries) / max(n, 1)
    return report


def evaluate(search_engine: SearchEngine, dataset: BeirDataset, modes: Sequence[Mode],
             on_progress: Callable[[str], None] | None = None) -> list[ModeReport]:
    """nDCG@10, Recall@100, MRR@10 and latency for each mode; queries are encoded once, up front."""
    docs = doc_ids_by_rowid(search_engine.engine)
    encoded: dict[str, Encoded] = {}
    encode_ms: dict[str, float] = {}
    if any(m != "bm25" for m in modes) and search_engine.indexes is not None:
        for qid, text in dataset.queries.items():
            t = time.perf_counter()
            encoded[qid] = search_engine.encode_query(text)
            encode_ms[qid] = (time.perf_counter() - t) * 1000
    reports = []
    for mode in modes:
        if on_progress:
            on_progress(mode)
        report = ModeReport(mode=mode)
        runs = rankings(search_engine, dataset, mode, 100, encoded, docs, report, encode_ms)
        reports.append(score_runs(report, runs, dataset))
    return reports
