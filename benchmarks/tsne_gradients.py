"""t-SNE's gradient method for the map of the field: Barnes-Hut against FFT interpolation, side by side.

    .venv/bin/python benchmarks/tsne_gradients.py [--sizes 300,1000,3000,8000] [--threads 1]

For each size: clustered points (20 Gaussian clusters in 50 dimensions, the shape `layout_2d` feeds
openTSNE after its PCA), laid out with openTSNE's default schedule by each method. Reports CPU seconds and
how well the 2-D picture keeps each point's 10 nearest neighbours (the fraction found among its 10 nearest
in 2-D) and its cluster (k-nearest-neighbour cluster agreement in 2-D). The map's code switches from
Barnes-Hut to FFT at `BH_BELOW` papers (docs/decisions/0008-tsne-gradients.md).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from record import save_record  # noqa: E402


def neighbours(points: np.ndarray, k: int) -> np.ndarray:
    """Each point's k nearest other points (brute force, squared Euclidean)."""
    sq = (points**2).sum(axis=1)
    dist = sq[:, None] + sq[None, :] - 2 * points @ points.T
    np.fill_diagonal(dist, np.inf)
    return np.argsort(dist, axis=1)[:, :k]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="300,1000,3000,8000")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    from openTSNE import TSNE

    rng = np.random.default_rng(7)
    rows = []
    for n in (int(s) for s in args.sizes.split(",")):
        centres = rng.normal(size=(20, 50))
        truth = rng.integers(0, 20, n)
        points = centres[truth] + rng.normal(scale=0.6, size=(n, 50))
        high = neighbours(points, 10)
        for method in ("bh", "fft"):
            start = time.process_time()
            tsne = TSNE(n_jobs=args.threads, perplexity=min(30.0, (n - 1) / 3),
                        neighbors="annoy" if n > 1000 else "exact", negative_gradient_method=method,
                        random_state=0, verbose=False)
            xy = np.asarray(tsne.fit(points))
            cpu = time.process_time() - start
            low = neighbours(xy, 10)
            kept = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(high, low, strict=True)])
            same = float(np.mean(truth[low] == truth[:, None]))
            rows.append({"points": n, "gradients": method, "CPU s": round(cpu, 2),
                         "10-NN kept": round(float(kept), 3), "cluster agreement": round(same, 3)})
            print(rows[-1], flush=True)
    save_record("tsne_gradients", rows, title="t-SNE gradients for the map: Barnes-Hut vs FFT",
                variant=f"{args.threads} thread(s)")


if __name__ == "__main__":
    main()
