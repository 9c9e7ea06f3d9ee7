"""Data for benchmarks/foryou.py: a seeded sample of the arXiv snapshot and its pooled vectors.

Encoding is the slow part (the whole snapshot would take hours on 2 cores), so a random sample of
`n` papers is encoded once and cached under `cache` in chunks; a killed run resumes from the last chunk.

    .venv/bin/python benchmarks/foryou_data.py [--n 6000] [--cache /tmp/paperscope-foryou]
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ARXIV = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "arxiv-2025-2026.jsonl.gz"
CHUNK = 500


@dataclass
class Sample:
    """Sampled papers (arXiv id, primary category, listing date) and their pooled vectors, row-aligned."""

    ids: list[str]
    categories: list[str]
    listed: list[str]
    vectors: np.ndarray  # (n, dim) float32, unit length


def sample_records(n: int, seed: int = 7) -> list[dict[str, object]]:
    """`n` papers drawn uniformly (seeded) from the snapshot, in file order."""
    with gzip.open(ARXIV, "rt") as fh:
        records = [json.loads(line) for line in fh if line.strip()]
    picked = sorted(random.Random(seed).sample(range(len(records)), min(n, len(records))))
    return [records[i] for i in picked]


def load_sample(n: int, cache: Path, verbose: bool = True, encode: bool = True) -> Sample:
    """The sample with its pooled vectors, encoding (and caching) whatever is missing; with
    `encode=False` only the chunks already encoded (a prefix of the sample) are returned."""
    from paperscope.embed import load_encoder, paper_text
    from paperscope.settings import Settings

    cache.mkdir(parents=True, exist_ok=True)
    meta_path = cache / f"arxiv{n}.json"
    if meta_path.is_file():
        meta = json.loads(meta_path.read_text())
    else:
        records = sample_records(n)
        meta = [{"id": r["id"], "category": (r.get("categories") or ["?"])[0],
                 "listed": r.get("listed") or "",
                 "text": paper_text(str(r["title"]), str(r.get("abstract") or ""))} for r in records]
        meta_path.write_text(json.dumps(meta))
    encoder = None
    chunks = []
    start = time.perf_counter()
    for first in range(0, len(meta), CHUNK):
        path = cache / f"arxiv{n}-pooled-{first:06d}.npy"
        if not path.is_file() and not encode:
            break
        if not path.is_file():
            if encoder is None:
                encoder = load_encoder(Settings())
            encoded = encoder.encode_documents([m["text"] for m in meta[first:first + CHUNK]])
            tmp = path.with_suffix(".tmp.npy")
            np.save(tmp, np.stack([e.pooled for e in encoded]).astype(np.float32))
            tmp.replace(path)
            if verbose:
                done = first + CHUNK
                print(f"encoded {min(done, len(meta))}/{len(meta)} "
                      f"({time.perf_counter() - start:.0f}s)", file=sys.stderr, flush=True)
        chunks.append(np.load(path))
    meta = meta[:sum(len(c) for c in chunks)]
    return Sample(ids=[m["id"] for m in meta], categories=[m["category"] for m in meta],
                  listed=[m["listed"] for m in meta], vectors=np.concatenate(chunks))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=6000)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/paperscope-foryou"))
    args = parser.parse_args()
    sample = load_sample(args.n, args.cache)
    print(f"{len(sample.ids)} papers, vectors {sample.vectors.shape}")


if __name__ == "__main__":
    main()
