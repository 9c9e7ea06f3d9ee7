"""Indexing throughput and footprint: the whole pipeline beside the bare encoder, on the same texts.

    .venv/bin/python benchmarks/indexing.py [--papers 1000]

Takes the first N papers of the shared arXiv snapshot, loads them into a fresh SQLite store, then
  1. bare encoder: `encode_documents` on the papers' texts (as the pipeline feeds them, 256 at a time),
  2. pipeline: `build_index` end to end (store reads, encoding, FDE, three index adds, saves),
  3. bare encoder again (the two bare runs are averaged: other load on the machine drifts),
and reports papers/s, the pipeline's share of the encoder's rate, bytes per paper on disk and the
resident memory the opened indexes add.
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
import time
from pathlib import Path

from record import save_record

from paperscope.embed import OnnxEncoder, load_encoder, paper_text
from paperscope.embed.bundled import bundled_spec
from paperscope.index.build import READ_BATCH, IndexSet, build_index
from paperscope.settings import Settings
from paperscope.sources.jsonl import JsonlSource
from paperscope.store import ingest_records, iter_papers, open_database

ARXIV = Path(__file__).resolve().parents[2] / "shared" / "data" / "arxiv-2025-2026.jsonl.gz"


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--papers", type=int, default=1000)
    ap.add_argument("--data", type=Path, default=ARXIV)
    ap.add_argument("--threads", type=int, default=0,
                    help="encoder threads (default: one per core; 1 is faster on an overloaded machine)")
    args = ap.parse_args()

    home = Path(tempfile.mkdtemp(prefix="paperscope-indexing-"))
    settings = Settings(home=home, database_url="")
    settings.ensure_home()
    engine = open_database(settings.db_url)
    ingest_records(engine, JsonlSource(args.data, limit=args.papers))
    papers = list(itertools.chain.from_iterable(iter_papers(engine, batch_size=READ_BATCH)))
    texts = [paper_text(p.title, p.abstract) for p in papers]
    encoder = OnnxEncoder(bundled_spec(settings), args.threads) if args.threads else load_encoder(settings)
    encoder.encode_documents(texts[:32])  # warm-up: graph initialisation is not throughput

    def bare() -> float:
        t = time.perf_counter()
        for i in range(0, len(texts), READ_BATCH):
            encoder.encode_documents(texts[i:i + READ_BATCH])
        return len(texts) / (time.perf_counter() - t)

    bare1 = bare()
    report = build_index(engine, settings.index_dir, encoder)
    bare2 = bare()
    bare_rate = (bare1 + bare2) / 2
    before = rss_bytes()
    idx = IndexSet.open(settings.index_dir)
    assert idx is not None
    q = encoder.encode_queries(["retrieval augmented generation"])[0]
    idx.pooled.search(q.pooled, 10)
    idx.fde_ann.search(idx.fde.encode_query(q.tokens), 10)
    ram = rss_bytes() - before
    n = len(papers)
    ann_payload = idx.pooled.bytes_per_vector() + idx.fde_ann.bytes_per_vector()
    ann_files = idx.layout.pooled.stat().st_size + idx.layout.fde.stat().st_size
    print(f"{n} papers, model {encoder.name}, {report.timings}")
    print("| measure | value |\n|---|---|")
    print(f"| bare encoder (run 1 / run 2) | {bare1:.1f} / {bare2:.1f} papers/s |")
    share = report.rate / bare_rate
    print(f"| pipeline end to end | {report.rate:.1f} papers/s ({share:.0%} of the bare encoder) |")
    print(f"| ANN vector payload (pooled {idx.pooled.dtype} {idx.pooled.bytes_per_vector()} B + FDE "
          f"{idx.fde_ann.dtype} {idx.fde_ann.bytes_per_vector()} B) | {ann_payload} B/paper |")
    print(f"| ANN files incl. HNSW graph | {ann_files / n:.0f} B/paper |")
    print(f"| token store on disk | {idx.tokens.bytes_on_disk() / n:.0f} B/paper |")
    print(f"| whole index dir on disk | {idx.disk_bytes() / n:.0f} B/paper |")
    print(f"| RAM added by opening the indexes (RSS) | {ram / n:.0f} B/paper |")
    save_record("indexing", [
        {"measure": "bare encoder, papers/s (run 1)", "value": round(bare1, 1)},
        {"measure": "bare encoder, papers/s (run 2)", "value": round(bare2, 1)},
        {"measure": "pipeline end to end, papers/s", "value": round(report.rate, 1)},
        {"measure": "pipeline share of the bare encoder", "value": round(share, 3)},
        {"measure": "ANN vector payload, B/paper", "value": ann_payload},
        {"measure": "ANN files incl. HNSW graph, B/paper", "value": round(ann_files / n)},
        {"measure": "token store on disk, B/paper", "value": round(idx.tokens.bytes_on_disk() / n)},
        {"measure": "whole index dir on disk, B/paper", "value": round(idx.disk_bytes() / n)},
        {"measure": "RAM added by opening the indexes (RSS), B/paper", "value": round(ram / n)},
    ], title=f"Indexing throughput and footprint, {n} papers, model {encoder.name}.",
        notes=str(report.timings))


if __name__ == "__main__":
    main()
