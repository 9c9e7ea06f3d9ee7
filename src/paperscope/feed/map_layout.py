"""The maths of the map of the field: 2-D layout of pooled vectors, k-means regions, distinctive terms.

Layout: PCA to 50 dimensions (an SVD of a sample), then openTSNE (Barnes-Hut or FFT gradients, neighbours
by Annoy) when it is installed and there are enough papers, else the first two principal components.
Regions: k-means on the 2-D layout, so each region is one contiguous patch of the picture. Labels:
the words most over-represented in a region's titles and abstracts (document frequency in the region
against the whole corpus, a KL-divergence term, so frequent-everywhere words lose).
"""

from __future__ import annotations

import math
import re
from typing import Literal

import numpy as np

LayoutMethod = Literal["auto", "tsne", "pca"]
PCA_DIMS = 50
BH_BELOW = 4000  # t-SNE's gradients: Barnes-Hut for smaller maps, FFT interpolation from here up
MIN_TSNE = 200  # below this t-SNE's perplexity has too few neighbours to mean anything; PCA serves
_TOKEN = re.compile(r"[a-z][a-z0-9-]{2,}")
_STOPWORD_TEXT = """
about above across after again against all almost also although among and any are based been before
being below between both but can could does doing done during each either even every few for from
further given had has have having here how however into its itself just least less many may more most
much must new not novel now off often once one only other our out over own paper per present propose
proposed rather same several should show shows shown since some such than that the their them then
there these they this those three through thus too two under until upon use used uses using very via
was way well were what when where whether which while who whose why will with within without would yet
approach approaches method methods results result study work works first second also can we our
problem problems model models data framework demonstrate existing different various significant
significantly provide provides including however further well achieve achieves new performance
state-of-the-art extensive experiments experimental findings find evaluate evaluating address future
tasks task real-world baselines baseline capabilities reliable automated outperforms outperform
leveraging leverage effectively effective key large-scale introduce introduces remains challenging
challenge challenges improve improves improved improving enable enables comprehensive code available
"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())


def pca(vectors: np.ndarray, dims: int, *, sample: int = 20000, seed: int = 0) -> np.ndarray:
    """Project onto the top `dims` principal components (fitted on a sample: the directions settle long
    before every row is used)."""
    n = len(vectors)
    dims = max(1, min(dims, vectors.shape[1], n))
    rng = np.random.default_rng(seed)
    fit = vectors[rng.choice(n, size=sample, replace=False)] if n > sample else vectors
    mean = fit.mean(axis=0)
    _, _, vt = np.linalg.svd(fit - mean, full_matrices=False)
    out: np.ndarray = ((vectors - mean) @ vt[:dims].T).astype(np.float32)
    return out


def tsne_available() -> bool:
    try:
        import openTSNE  # noqa: F401
    except ImportError:
        return False
    return True


def layout_2d(vectors: np.ndarray, method: LayoutMethod = "auto", *, threads: int = 2,
              seed: int = 0) -> tuple[np.ndarray, str]:
    """(n x 2 coordinates scaled into [0, 1], the method used)."""
    n = len(vectors)
    if n == 0:
        return np.zeros((0, 2), dtype=np.float32), "none"
    if n == 1:
        return np.full((1, 2), 0.5, dtype=np.float32), "none"
    reduced = pca(vectors, PCA_DIMS, seed=seed)
    use_tsne = method == "tsne" or (method == "auto" and n >= MIN_TSNE and tsne_available())
    if use_tsne:
        from openTSNE import TSNE

        # Annoy's neighbour search and the FFT gradients both use `threads`. openTSNE's default schedule
        # (250 exaggerated + 500 iterations) took 264 s for 74.7k papers on two busy cores; the regions
        # are formed well before the end, so large maps stop at 200 + 350 (the 5-minute budget).
        # Barnes-Hut gradients below a few thousand papers, FFT above (docs/decisions/0008-tsne-gradients.md).
        big = n > 20000
        gradients = "bh" if n < BH_BELOW else "fft"
        tsne = TSNE(n_jobs=threads, perplexity=min(30.0, max(2.0, (n - 1) / 3)),
                    neighbors="annoy" if n > 1000 else "exact", negative_gradient_method=gradients,
                    early_exaggeration_iter=200 if big else 250, n_iter=350 if big else 500,
                    random_state=seed, verbose=False)
        coords = np.asarray(tsne.fit(reduced), dtype=np.float32)
        used = "tsne"
    else:
        coords = np.ascontiguousarray(pca(reduced, 2, seed=seed))
        if coords.shape[1] == 1:
            coords = np.hstack([coords, np.zeros_like(coords)])
        used = "pca"
    return _unit_square(coords), used


def _unit_square(coords: np.ndarray) -> np.ndarray:
    """Scale into [0, 1] x [0, 1] keeping the aspect ratio; the outermost 0.1 % are clipped to the edge
    so a few far-flung papers cannot shrink everyone else into a corner."""
    lo = np.quantile(coords, 0.001, axis=0) if len(coords) > 1000 else coords.min(axis=0)
    hi = np.quantile(coords, 0.999, axis=0) if len(coords) > 1000 else coords.max(axis=0)
    span = float(max((hi - lo).max(), 1e-9))
    centre = (lo + hi) / 2
    out = (coords - centre) / span + 0.5
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def kmeans(points: np.ndarray, k: int, *, iterations: int = 40,
           seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(label per point, centres): Lloyd's algorithm from a k-means++ start."""
    n = len(points)
    k = max(1, min(k, n))
    rng = np.random.default_rng(seed)
    centres = np.empty((k, points.shape[1]), dtype=np.float64)
    centres[0] = points[rng.integers(n)]
    nearest = ((points - centres[0]) ** 2).sum(axis=1)
    for j in range(1, k):
        total = float(nearest.sum())
        pick = rng.choice(n, p=nearest / total) if total > 0 else rng.integers(n)
        centres[j] = points[pick]
        nearest = np.minimum(nearest, ((points - centres[j]) ** 2).sum(axis=1))
    labels = np.zeros(n, dtype=np.int64)
    for step in range(iterations):
        # |p - c|^2 = |p|^2 - 2 p.c + |c|^2; the |p|^2 term does not change the argmin.
        dist = (centres ** 2).sum(axis=1)[None, :] - 2.0 * points @ centres.T
        new = dist.argmin(axis=1)
        if step and np.array_equal(new, labels):
            break
        labels = new
        for j in range(k):
            members = points[labels == j]
            if len(members):
                centres[j] = members.mean(axis=0)
    return labels, centres.astype(np.float32)


def default_regions(n: int) -> int:
    """About sqrt(n) regions, at least 2 and at most 40 (more labels than that clutter the picture)."""
    return max(1, min(40, n, max(2, round(math.sqrt(n)))))


def tokens(text: str) -> set[str]:
    """The distinct content words of a text (lower case, 3+ letters, no stop words)."""
    words = (t.strip("-") for t in _TOKEN.findall(text.lower()))
    return {t for t in words if len(t) > 2 and t not in STOPWORDS}


class TermCounter:
    """Each paper's distinct words as small integer ids (a set of strings per paper cost ~5 KB each:
    hundreds of MB at 75k papers); the vocabulary is shared."""

    def __init__(self) -> None:
        self.vocab: dict[str, int] = {}
        self.ids: list[np.ndarray] = []

    def add(self, text: str) -> None:
        vocab = self.vocab
        self.ids.append(np.fromiter((vocab.setdefault(t, len(vocab)) for t in tokens(text)), dtype=np.int32))


def distinctive_terms(counter: TermCounter, labels: np.ndarray, k: int, *, top: int = 3,
                      max_repeats: int = 2) -> list[list[str]]:
    """For each region, the `top` words whose share of its papers most exceeds their share overall
    (in-region share x log of the ratio of shares). A word labels at most `max_repeats` regions (the
    biggest first), so neighbouring regions of one broad topic still get telling labels."""
    words = np.array(list(counter.vocab), dtype=object)
    v = len(words)
    if v == 0 or not counter.ids:
        return [[] for _ in range(k)]
    lengths = np.fromiter((len(d) for d in counter.ids), dtype=np.int64, count=len(counter.ids))
    flat = np.concatenate(counter.ids).astype(np.int64)
    region_of = np.repeat(labels.astype(np.int64), lengths)
    overall = np.bincount(flat, minlength=v).astype(np.float64)
    per_region = np.bincount(region_of * v + flat, minlength=k * v).reshape(k, v).astype(np.float64)
    sizes = np.bincount(labels, minlength=k).astype(np.float64)
    n = float(len(counter.ids))
    used: dict[str, int] = {}
    out: list[list[str]] = [[] for _ in range(k)]
    for region in np.argsort(-sizes, kind="stable").tolist():
        size = sizes[region]
        if size == 0:
            continue
        df = per_region[region]
        floor = 2 if size >= 6 else 1  # a word of one paper says nothing about a big region
        inside = df / size
        with np.errstate(divide="ignore", invalid="ignore"):
            score = np.where(df >= floor, inside * np.log(inside / (overall / n)), -np.inf)
        order = np.lexsort((words.astype(str), -score))
        for t in order.tolist():
            if not np.isfinite(score[t]) or len(out[region]) == top:
                break
            word = str(words[t])
            if used.get(word, 0) >= max_repeats:
                continue
            used[word] = used.get(word, 0) + 1
            out[region].append(word)
    return out
