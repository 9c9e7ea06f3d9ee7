"""Training triples (query, positive, BM25 hard negative) for the late-interaction encoder, seeded.

Sources (see training/README.md for why these may be used):
  * arXiv snapshot (../shared/data/arxiv-2025-2026.jsonl.gz, CC0 metadata):
      - "title":    title -> "title. abstract" of the same paper (short, title-like queries);
      - "sentence": one sentence of the abstract -> the paper with that sentence removed (inverse cloze
                    task; claim-like queries such as SciFact's). 10% of the time the sentence stays in.
  * SciFact *train* claims -> each abstract cited in qrels/train.tsv (never the test split).
Hard negatives: SQLite FTS5 bm25 (the store's lexical ranker) over the same pool, one document drawn
uniformly from ranks 3-30 that is not a positive of the query.

Usage: python training/make_pairs.py --out pairs.jsonl [--arxiv-papers 12000] [--seed 21]
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import random
import re
import sqlite3
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
_WORD = re.compile(r"[a-z0-9]{3,}")
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")
_STOP = set(
    [
        "the",
        "and",
        "for",
        "with",
        "that",
        "this",
        "from",
        "are",
        "was",
        "were",
        "which",
        "their",
        "these",
        "those",
        "have",
        "has",
        "been",
        "into",
        "using",
        "use",
        "can",
        "our",
        "its",
        "not",
        "but",
        "also",
        "between",
        "than",
        "more",
        "based",
        "such",
        "both",
        "over",
        "under",
        "show",
    ]
)


def clean(text: str) -> str:
    return " ".join(text.split())


def paper_text(title: str, abstract: str) -> str:
    """As paperscope.embed.types.paper_text: "title. abstract", whitespace collapsed."""
    title, abstract = clean(title).rstrip("."), clean(abstract)
    return f"{title}. {abstract}" if title else abstract


def fts_query(text: str, df: dict[str, int], n_docs: int, limit: int = 8) -> str:
    """The query's `limit` rarest words (document frequency under 5% of the pool), OR-ed: common words
    cost FTS5 most of its time and move bm25 least."""
    words = [
        w
        for w in dict.fromkeys(_WORD.findall(text.lower()))
        if w not in _STOP and 0 < df.get(w, 0) < 0.05 * n_docs
    ]
    words.sort(key=lambda w: df[w])
    return " OR ".join(f'"{w}"' for w in words[:limit])


class Bm25:
    """An in-memory FTS5 table over a document pool; `negative` draws one hard negative."""

    def __init__(self, docs: list[str]) -> None:
        self.db = sqlite3.connect(":memory:")
        self.db.execute("CREATE VIRTUAL TABLE d USING fts5(body)")
        self.db.executemany("INSERT INTO d(rowid, body) VALUES (?, ?)", enumerate(docs))
        self.n_docs = len(docs)
        self.df: dict[str, int] = {}
        for doc in docs:
            for w in set(_WORD.findall(doc.lower())):
                self.df[w] = self.df.get(w, 0) + 1

    def negative(self, query: str, positives: set[int], rng: random.Random) -> int | None:
        match = fts_query(query, self.df, self.n_docs)
        if not match:
            return None
        rows = self.db.execute(
            "SELECT rowid FROM d WHERE d MATCH ? ORDER BY bm25(d) LIMIT 30", (match,)
        ).fetchall()
        ranked = [r[0] for r in rows if r[0] not in positives][2:]
        return rng.choice(ranked) if ranked else None


def arxiv_triples(n_papers: int, rng: random.Random) -> list[dict[str, str]]:
    with gzip.open(DATA / "arxiv-2025-2026.jsonl.gz", "rt") as fh:
        papers = [json.loads(line) for line in fh]
    papers = [p for p in papers if len(clean(p["abstract"])) > 200]
    docs = [paper_text(p["title"], p["abstract"]) for p in papers]
    bm25 = Bm25(docs)
    chosen = rng.sample(range(len(papers)), n_papers)
    out = []
    for j, i in enumerate(chosen):
        p = papers[i]
        if j % 2 == 0:
            query, positive, kind = clean(p["title"]), docs[i], "title"
        else:
            sentences = [s for s in _SENTENCE.split(clean(p["abstract"])) if 8 <= len(s.split()) <= 45]
            if len(sentences) < 1 or len(_SENTENCE.split(clean(p["abstract"]))) < 3:
                query, positive, kind = clean(p["title"]), docs[i], "title"
            else:
                query = rng.choice(sentences)
                rest = (
                    clean(p["abstract"]) if rng.random() < 0.1 else clean(p["abstract"]).replace(query, " ")
                )
                positive, kind = paper_text(p["title"], rest), "sentence"
        neg = bm25.negative(query, {i}, rng)
        if neg is not None:
            out.append({"kind": kind, "query": query, "positive": positive, "negative": docs[neg]})
    return out


def scifact_triples(rng: random.Random, repeats: int) -> list[dict[str, str]]:
    root = DATA / "scifact"
    corpus = [json.loads(line) for line in (root / "corpus.jsonl").open()]
    index = {str(d["_id"]): i for i, d in enumerate(corpus)}
    docs = [paper_text(str(d.get("title") or ""), str(d.get("text") or "")) for d in corpus]
    queries = {str(q["_id"]): q["text"] for q in map(json.loads, (root / "queries.jsonl").open())}
    qrels: dict[str, set[int]] = {}
    with (root / "qrels" / "train.tsv").open() as fh:
        for row in csv.reader(fh, delimiter="\t"):
            if row[0] in queries and row[1] in index:
                qrels.setdefault(row[0], set()).add(index[row[1]])
    bm25 = Bm25(docs)
    out = []
    for _ in range(repeats):
        for qid in sorted(qrels):
            for pos in sorted(qrels[qid]):
                neg = bm25.negative(queries[qid], qrels[qid], rng)
                if neg is not None:
                    out.append(
                        {
                            "kind": "scifact-train",
                            "query": queries[qid],
                            "positive": docs[pos],
                            "negative": docs[neg],
                        }
                    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--arxiv-papers", type=int, default=12000)
    parser.add_argument("--scifact-repeats", type=int, default=2)
    parser.add_argument("--seed", type=int, default=21)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    triples = arxiv_triples(args.arxiv_papers, rng) + scifact_triples(rng, args.scifact_repeats)
    rng.shuffle(triples)
    with args.out.open("w") as fh:
        for t in triples:
            fh.write(json.dumps(t) + "\n")
    kinds: dict[str, int] = {}
    for t in triples:
        kinds[t["kind"]] = kinds.get(t["kind"], 0) + 1
    print(f"{len(triples)} triples -> {args.out}: {kinds}")


if __name__ == "__main__":
    main()
