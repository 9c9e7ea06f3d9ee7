"""For you: leave-one-out hit rate @20 of the personal model vs "similar to library" vs recency.

    .venv/bin/python benchmarks/foryou.py [--n 6000] [--cache /tmp/paperscope-foryou] [--users 300]
        [--encoded-only]

Corpus: a seeded random sample of the arXiv snapshot with pooled vectors from the bundled encoder
(benchmarks/foryou_data.py; `--encoded-only` uses the chunks encoded so far). Simulated users: each is
interested in one or two primary arXiv categories (among those with at least 40 papers in the sample)
and has a library of 15 random papers from them. For each user, 5 library papers are held out in turn:
the rest is the training library, and the held-out paper is ranked among 200 random papers outside the
library (the held-out paper's own category is not excluded from them, so same-topic papers compete).
A hit is the held-out paper in the top 20. Methods:
  * personal  — feed/foryou.fit_preferences: logistic regression, library as positives, 300 random
                unseen papers (disjoint from the candidates) as soft negatives, exactly as the app does;
  * similar   — max cosine similarity to any library paper ("more like what I saved");
  * centroid  — cosine to the mean of the library vectors;
  * recency   — newest listing first (ties broken at random).
"""

from __future__ import annotations

import argparse
import random
import time
from collections import Counter
from pathlib import Path

import numpy as np
from foryou_data import load_sample
from record import save_record

from paperscope.feed.foryou import fit_preferences

K = 20
LIBRARY = 15
HELD_OUT = 5
CANDIDATES = 200
UNSEEN = 300


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=6000)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/paperscope-foryou"))
    parser.add_argument("--users", type=int, default=300)
    parser.add_argument("--encoded-only", action="store_true")
    args = parser.parse_args()
    sample = load_sample(args.n, args.cache, encode=not args.encoded_only)
    vectors = sample.vectors / np.linalg.norm(sample.vectors, axis=1, keepdims=True)
    n = len(sample.ids)
    recency = np.array([int(d.replace("-", "") or 0) for d in sample.listed], dtype=np.float64)
    by_cat: dict[str, list[int]] = {}
    for i, c in enumerate(sample.categories):
        by_cat.setdefault(c, []).append(i)
    frequent = sorted(c for c, members in by_cat.items() if len(members) >= 40)
    rng = random.Random(11)
    hits: Counter[str] = Counter()
    trials = 0
    fit_s = 0.0
    for _ in range(args.users):
        interests = rng.sample(frequent, rng.choice((1, 2)))
        pool = [i for c in interests for i in by_cat[c]]
        library = rng.sample(pool, LIBRARY)
        outside = [i for i in range(n) if i not in set(library)]
        for held in library[:HELD_OUT]:
            train = [i for i in library if i != held]
            others = rng.sample(outside, CANDIDATES)
            candidates = np.array([held, *others])
            rest = list(set(outside) - set(others))
            unseen = rng.sample(rest, UNSEEN)
            t = time.perf_counter()
            model = fit_preferences(vectors[train], vectors[:0], vectors[unseen])
            fit_s += time.perf_counter() - t
            cand = vectors[candidates]
            scores = {
                "personal": model.score(cand),
                "similar": (cand @ vectors[train].T).max(axis=1),
                "centroid": cand @ vectors[train].mean(axis=0),
                "recency": recency[candidates] + np.array([rng.random() * 1e-3 for _ in candidates]),
            }
            for name, s in scores.items():
                # Rank of the held-out paper (index 0): how many candidates score strictly higher.
                if int((s > s[0]).sum()) < K:
                    hits[name] += 1
            trials += 1
    print(f"{n} arXiv papers (seeded random sample, pooled MiniLM vectors), {len(frequent)} categories with "
          f">= 40 papers, {args.users} simulated users x {HELD_OUT} held-out papers = {trials} trials; "
          f"held-out paper ranked among {CANDIDATES} random non-library papers; "
          f"model fit {fit_s * 1000 / trials:.1f} ms\n")
    print(f"| method | hit rate @{K} |")
    print("| --- | ---: |")
    for name in ("personal", "similar", "centroid", "recency"):
        print(f"| {name} | {hits[name] / trials:.3f} |")
    print(f"| random (expected) | {K / (CANDIDATES + 1):.3f} |")
    rows = [{"method": name, f"hit_rate_at_{K}": round(hits[name] / trials, 3)}
            for name in ("personal", "similar", "centroid", "recency")]
    rows.append({"method": "random (expected)", f"hit_rate_at_{K}": round(K / (CANDIDATES + 1), 3)})
    save_record("foryou", rows, title=f"Leave-one-out hit rate: {n} papers, {args.users} users, "
                f"{trials} trials, held-out paper among {CANDIDATES} random others.")


if __name__ == "__main__":
    main()
