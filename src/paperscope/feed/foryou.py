"""The personal "For you" feed: a per-user logistic regression over paper pooled vectors.

Training data: positives are the user's library and 👍 papers (minus any 👎); negatives are 👎 papers
plus a sample of papers the user has not touched ("unseen": most papers are not for any one user, so
they act as soft negatives, weighted lower than an explicit 👎). Classes are re-weighted to count
equally, and an L2 penalty keeps the 384-dim model sane with a handful of positives. It is fitted by
Newton's method (IRLS), exact and fast at this size (`newton_step`).

The weights are cached in `home/cache/foryou/<user>.npz` under the user's library version
(store/library.py bumps it on every change), so a model is retrained only after feedback changed.
The feed ranks recently listed papers the user has not seen by the model's score; each comes with its
reason: the liked papers nearest to it (cosine of pooled vectors).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import sqlalchemy as sa

from paperscope.files import write_atomically
from paperscope.index.retriever import Retriever
from paperscope.search.dpp import DEFAULT_THETA, diversify
from paperscope.search.types import SearchHit
from paperscope.store import get_papers_by_rowid
from paperscope.store.library import (
    feedback_of,
    library_rowids,
    library_version,
    preferences_of,
    random_rowids,
    recent_rowids,
    titles_of,
)

UNSEEN_WEIGHT = 0.3  # an unseen paper counts this much as a negative, relative to an explicit 👎
L2 = 1.0


@dataclass
class PreferenceModel:
    """A linear scorer over pooled vectors: score = w·x + b (a logit; higher = more likely liked)."""

    weights: np.ndarray
    bias: float
    version: int = 0
    positives: int = 0
    negatives: int = 0

    def score(self, vectors: np.ndarray) -> np.ndarray:
        return np.asarray(vectors, dtype=np.float64) @ self.weights + self.bias


def fit_preferences(positives: np.ndarray, negatives: np.ndarray, unseen: np.ndarray | None = None, *,
                    unseen_weight: float = UNSEEN_WEIGHT, l2: float = L2,
                    iterations: int = 25) -> PreferenceModel:
    """Weighted, L2-regularised logistic regression (Newton/IRLS). Positive and negative classes carry
    equal total weight; within the negatives an unseen paper weighs `unseen_weight` of a 👎."""
    pos = np.asarray(positives, dtype=np.float64).reshape(len(positives), -1)
    neg_parts = [np.asarray(negatives, dtype=np.float64).reshape(len(negatives), pos.shape[1])]
    neg_w = [np.ones(len(negatives))]
    if unseen is not None and len(unseen):
        neg_parts.append(np.asarray(unseen, dtype=np.float64).reshape(len(unseen), pos.shape[1]))
        neg_w.append(np.full(len(unseen), unseen_weight))
    neg = np.concatenate(neg_parts)
    wn = np.concatenate(neg_w)
    if len(pos) == 0 or len(neg) == 0:
        raise ValueError("need at least one positive and one negative paper")
    x = np.hstack([np.concatenate([pos, neg]), np.ones((len(pos) + len(neg), 1))])
    y = np.concatenate([np.ones(len(pos)), np.zeros(len(neg))])
    sample_w = np.concatenate([np.full(len(pos), 1.0 / len(pos)), wn / wn.sum()])
    penalty = np.full(x.shape[1], l2 / len(y))
    penalty[-1] = 0.0  # the bias is not shrunk
    theta = np.zeros(x.shape[1])
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(x @ theta, -30, 30)))
        grad = x.T @ (sample_w * (p - y)) + penalty * theta
        step = newton_step(x, sample_w * p * (1 - p), penalty + 1e-9, grad)
        theta -= step
        if np.abs(step).max() < 1e-6:
            break
    return PreferenceModel(weights=theta[:-1], bias=float(theta[-1]), positives=len(pos), negatives=len(neg))


def newton_step(x: np.ndarray, w: np.ndarray, diag: np.ndarray, grad: np.ndarray) -> np.ndarray:
    """Solve (diag(diag) + xᵀ·diag(w)·x) s = grad, the IRLS Newton step; x's last column is the bias.

    A user has a few dozen training papers (n) against 385 unknowns, so below n = d/2 the (d+1)² system
    is solved through n×n ones instead (same answer, ~10x less work; a digest trains one model per
    account):
    the weight block λI + ZᵀWZ is inverted with the Woodbury identity in its stable form (an n×n
    Cholesky of λI + W½ZZᵀW½), and the bias, barely penalised, by its Schur complement.
    """
    n, cols = x.shape
    lam = float(diag[0])
    if 2 * n >= cols or not np.allclose(diag[:-1], lam):  # n×n work pays only well below d
        return np.asarray(np.linalg.solve((x * w[:, None]).T @ x + np.diag(diag), grad))
    z, root = x[:, :-1], np.sqrt(w)
    rz = z * root[:, None]
    chol = np.linalg.cholesky(lam * np.eye(n) + rz @ rz.T)

    def m_inv(v: np.ndarray) -> np.ndarray:  # (λI + ZᵀWZ)⁻¹ v, v of shape (d,) or (d, k)
        inner = np.linalg.solve(chol.T, np.linalg.solve(chol, rz @ v))
        return np.asarray((v - rz.T @ inner) / lam)

    u = z.T @ w  # ZᵀW1: the weight-bias block
    c = float(w.sum() + diag[-1])
    both = m_inv(np.column_stack([grad[:-1], u]))
    mg, mu = both[:, 0], both[:, 1]
    bias = (grad[-1] - u @ mg) / (c - u @ mu)
    return np.concatenate([mg - mu * bias, [bias]])


@dataclass
class Reason:
    """A liked paper close to a recommended one."""

    paper_id: str
    title: str
    similarity: float


@dataclass
class ForYouItem:
    rowid: int
    paper_id: str
    score: float
    reasons: list[Reason]


@dataclass
class ForYouResult:
    items: list[ForYouItem]
    total: int = 0
    model_version: int = 0
    retrained: bool = False
    notes: list[str] = field(default_factory=list)


class ForYou:
    """Trains (and caches) each user's model and ranks recent papers with it."""

    def __init__(self, retriever: Retriever, cache_dir: Path | None = None, *,
                 unseen_sample: int = 500, seed: int = 13) -> None:
        self.retriever = retriever
        self.engine: sa.Engine = retriever.store
        default_dir = retriever.settings.home / "cache" / "foryou"
        self.cache_dir = cache_dir if cache_dir is not None else default_dir
        self.unseen_sample = unseen_sample
        self.seed = seed

    def _liked_and_disliked(self, user_id: int) -> tuple[list[int], list[int]]:
        votes = feedback_of(self.engine, user_id)
        disliked = sorted(r for r, v in votes.items() if v < 0)
        liked = sorted((library_rowids(self.engine, user_id) | {r for r, v in votes.items() if v > 0})
                       - set(disliked))
        return liked, disliked

    def _cached(self, user_id: int, version: int) -> PreferenceModel | None:
        path = self.cache_dir / f"{user_id}.npz"
        try:
            with np.load(path) as data:
                if int(data["version"]) != version:
                    return None
                return PreferenceModel(weights=data["weights"], bias=float(data["bias"]), version=version,
                                       positives=int(data["positives"]), negatives=int(data["negatives"]))
        except (FileNotFoundError, KeyError, ValueError, OSError):
            return None

    def _store(self, user_id: int, model: PreferenceModel) -> None:
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        path = self.cache_dir / f"{user_id}.npz"
        write_atomically(path, lambda tmp: np.savez(  # a cache: retrained if lost, so no fsync
            tmp, weights=model.weights, bias=model.bias, version=model.version, positives=model.positives,
            negatives=model.negatives), durable=False)

    def model(self, user_id: int) -> tuple[PreferenceModel | None, bool]:
        """The user's model (None without liked papers or a vector index) and whether it was retrained."""
        idx = self.retriever.indexes
        if idx is None:
            return None, False
        version = library_version(self.engine, user_id)
        cached = self._cached(user_id, version)
        if cached is not None:
            return cached, False
        liked, disliked = self._liked_and_disliked(user_id)
        seen = set(liked) | set(disliked)
        sample = random_rowids(self.engine, self.unseen_sample, self.seed + user_id)
        unseen = [r for r in sample if r not in seen]
        vectors = self.retriever.pooled_vectors(liked + disliked + unseen, idx=idx)
        pos = [vectors[r] for r in liked if r in vectors]
        neg = [vectors[r] for r in disliked if r in vectors]
        rest = [vectors[r] for r in unseen if r in vectors]
        if not pos or not (neg or rest):
            return None, False
        dim = idx.pooled.dim
        fitted = fit_preferences(np.array(pos).reshape(-1, dim), np.array(neg).reshape(-1, dim),
                                 np.array(rest).reshape(-1, dim))
        fitted.version = version
        self._store(user_id, fitted)
        return fitted, True

    def feed(self, user_id: int, *, k: int = 20, offset: int = 0, days: int = 7, diverse: bool = False,
             theta: float = DEFAULT_THETA, reasons: int = 2) -> ForYouResult:
        """Recent papers (listed within `days` of the newest listing) ranked for the user."""
        model, retrained = self.model(user_id)
        idx = self.retriever.indexes
        if idx is None:
            return ForYouResult(items=[], notes=["no vector index yet (run `paperscope index`)"])
        if model is None:
            return ForYouResult(items=[], notes=["save papers or mark them 👍 to get a personal feed"])
        liked, disliked = self._liked_and_disliked(user_id)
        seen = set(liked) | set(disliked)
        candidates = [r for r in recent_rowids(self.engine, days) if r not in seen]
        vectors = self.retriever.pooled_vectors(candidates, idx=idx)
        ids = [r for r in candidates if r in vectors]
        if not ids:
            return ForYouResult(items=[], model_version=model.version, retrained=retrained,
                                notes=["no recent indexed papers you have not seen"])
        matrix = np.stack([vectors[r] for r in ids])
        scores = model.score(matrix)
        order = np.argsort(-scores, kind="stable")
        hits = [SearchHit(rowid=ids[i], paper_id="", score=float(scores[i])) for i in order]
        if diverse:
            hits = diversify(hits[:100], vectors, theta=theta, k=offset + k) + hits[100:]
        page = hits[offset:offset + k]
        return ForYouResult(items=self._explain(page, liked, reasons), total=len(hits),
                            model_version=model.version, retrained=retrained)

    def _explain(self, page: list[SearchHit], liked: list[int], n: int) -> list[ForYouItem]:
        idx = self.retriever.indexes
        assert idx is not None
        liked_vectors = self.retriever.pooled_vectors(liked, idx=idx)
        liked_ids = [r for r in liked if r in liked_vectors]
        page_vectors = self.retriever.pooled_vectors([h.rowid for h in page], idx=idx)
        papers = {p.rowid: p for p in get_papers_by_rowid(self.engine, [h.rowid for h in page])}
        titles = titles_of(self.engine, liked_ids)
        liked_papers = {p.rowid: p.paper_id for p in get_papers_by_rowid(self.engine, liked_ids)}
        items = []
        for h in page:
            paper = papers.get(h.rowid)
            if paper is None:
                continue
            why: list[Reason] = []
            if liked_ids and h.rowid in page_vectors:
                sims = np.stack([liked_vectors[r] for r in liked_ids]) @ page_vectors[h.rowid]
                for i in np.argsort(-sims)[:n]:
                    r = liked_ids[int(i)]
                    why.append(Reason(paper_id=liked_papers.get(r, ""), title=titles.get(r, ""),
                                      similarity=float(sims[int(i)])))
            items.append(ForYouItem(rowid=h.rowid, paper_id=paper.paper_id, score=h.score, reasons=why))
        return items


def digest_picks(retriever: Retriever) -> DigestPicks:
    """The "For you" ranking a digest run injects into mail/ (see mail.digest.ForYouSection)."""
    return DigestPicks(retriever)


class DigestPicks:
    """"For you" for digests: each account's model ranks a digest period's papers. The period's candidate
    vectors are read once per run and shared by every subscriber, and `prefetch` reads every account's
    library version, saved papers and 👍/👎 in three queries; per account there is only its cached model
    to load (trained here when its library changed since) and one matrix-vector product."""

    def __init__(self, retriever: Retriever) -> None:
        self.for_you = ForYou(retriever)
        self._window: dict[tuple[int, ...], tuple[list[int], np.ndarray]] = {}
        self._prefs: dict[int, tuple[int, set[int], dict[int, int]]] = {}

    def prefetch(self, user_ids: list[int]) -> None:
        """Read the preferences of these accounts at once (a digest run's subscribers)."""
        self._prefs.update(preferences_of(self.for_you.engine, [u for u in user_ids if u not in self._prefs]))

    def _candidates(self, days: int) -> tuple[list[int], np.ndarray]:
        key = (days,)
        if key not in self._window:
            ids = recent_rowids(self.for_you.engine, days)
            vectors = self.for_you.retriever.pooled_vectors(ids)
            kept = [r for r in ids if r in vectors]
            # float64 once here, not per subscriber (the model scores in float64)
            matrix = (np.stack([vectors[r] for r in kept]).astype(np.float64) if kept
                      else np.zeros((0, 1), dtype=np.float64))
            self._window[key] = (kept, matrix)
        return self._window[key]

    def picks(self, user_id: int, days: int, depth: int) -> list[int]:
        """Row ids of the account's best `depth` papers listed within `days` (none without a model)."""
        prefs = self._prefs.get(user_id)
        model = self.for_you._cached(user_id, prefs[0]) if prefs is not None else None
        if model is None:  # not prefetched, or the library changed since the model was trained
            model, _ = self.for_you.model(user_id)
        if model is None:
            return []
        ids, matrix = self._candidates(days)
        if not ids:
            return []
        if prefs is not None:
            seen = prefs[1] | set(prefs[2])
        else:
            liked, disliked = self.for_you._liked_and_disliked(user_id)
            seen = set(liked) | set(disliked)
        scores = matrix @ model.weights + model.bias
        want = min(depth + len(seen), len(ids))
        top = np.argpartition(-scores, want - 1)[:want] if want < len(ids) else np.arange(len(ids))
        order = top[np.argsort(-scores[top], kind="stable")]
        return [ids[i] for i in order if ids[i] not in seen][:depth]
