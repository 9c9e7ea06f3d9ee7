"""Similar papers: late-interaction neighbours fused with a lexical more-like-this, cached per index version.

For one paper:
  1. late interaction: the paper's own token vectors (from the TokenStore) are the query; its MUVERA FDE
     finds candidates in the FDE HNSW, exact MaxSim against the stored tokens re-ranks them;
  2. lexical: the paper's most telling words (title words count triple) as an OR query through the
     store's full-text search (BM25 / ts_rank), which supplies the IDF weighting;
  3. the two lists are fused by reciprocal rank (search/fusion.py). The paper itself is never returned.
For a set of papers each paper gets its own two lists and all of them are fused together, so every
paper in the set pulls with the same weight (a union of token vectors would favour the longest one).

The fused top `depth` is cached as a small JSON file under `home/cache/similar/`, keyed by the seed
papers; each entry records the index/store version it was computed on (index checkpoint + paper count)
and is recomputed once the index grows. Diversity (DPP/MMR) and paging are applied to the cached list,
so they cost no new retrieval.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import orjson

from paperscope.file_cache import BoundedFolder
from paperscope.files import write_atomically
from paperscope.index.retriever import Retriever
from paperscope.model import Paper
from paperscope.search.dpp import DEFAULT_THETA, diversify
from paperscope.search.fusion import RRF_K, reciprocal_rank_fusion
from paperscope.search.types import SearchHit
from paperscope.store import count_papers, get_papers_by_rowid
from paperscope.store.fulltext import query_terms
from paperscope.store.papers import hidden_among

_WORDLIKE = re.compile(r"^[^\W\d_]{3,}$", re.UNICODE)  # letters only, 3+ long: no numbers or stubs
# Words that are everywhere in abstracts and say nothing about the topic.
_ABSTRACT_NOISE = frozenset((
    "paper", "propose", "proposed", "method", "methods", "approach", "results", "show", "also", "based",
    "using", "use", "used", "new", "novel", "these", "their", "such", "than", "then", "both", "well",
    "which", "while", "however", "two", "one", "more", "most", "other", "through", "between", "over",
    "further", "only", "not", "all", "each", "work", "study", "present", "existing", "achieve", "across",
))


@dataclass(frozen=True)
class SimilarConfig:
    """Depths and fusion weights of the similar-papers pipeline."""

    depth: int = 100  # fused candidates kept (and cached) per query
    late_candidates: int = 200  # FDE/HNSW candidates re-ranked by exact MaxSim
    lexical_terms: int = 20  # words in the more-like-this query
    # Late interaction reads the whole text of both papers; the lexical list is a supporting signal that
    # adds exact-term matches (names, acronyms), so it counts half.
    weights: tuple[tuple[str, float], ...] = (("late", 1.0), ("lexical", 0.5))
    rrf_k: int = RRF_K
    max_seeds: int = 20  # a "similar to this set" query uses at most this many papers


@dataclass
class SimilarResult:
    """A page of papers similar to `seeds` (paper ids), best (or most diverse) first."""

    seeds: list[str]
    hits: list[SearchHit]
    total: int = 0
    offset: int = 0
    cached: bool = False
    diverse: bool = False
    notes: list[str] = field(default_factory=list)


def more_like_this_terms(paper: Paper, n: int = 20) -> list[str]:
    """The `n` words that best describe a paper by frequency, title words counted three times."""
    counts: Counter[str] = Counter()
    for weight, text in ((3, paper.title), (1, paper.abstract)):
        for word in re.findall(r"\w+", text.lower()):
            counts[word] += weight
    keep = set(query_terms(f"{paper.title} {paper.abstract}"))
    ranked = [w for w, _ in counts.most_common()
              if w in keep and _WORDLIKE.match(w) and w not in _ABSTRACT_NOISE]
    return ranked[:n]


class SimilarPapers:
    """Finds papers similar to a paper or a set of papers; keep one per process (it wraps the
    installation's Retriever)."""

    def __init__(self, retriever: Retriever, config: SimilarConfig | None = None,
                 cache_dir: Path | None = None) -> None:
        self.retriever = retriever
        self.engine = retriever.store
        self.config = config or SimilarConfig()
        default_dir = retriever.settings.home / "cache" / "similar"
        self.cache_dir = cache_dir if cache_dir is not None else default_dir
        # Any visitor can ask for any set of seeds: the folder keeps the most recently used lists only
        # (an entry is ~5 KB; the byte bound is a backstop).
        files = retriever.settings.similar_cache_files
        self.cache_bounds = BoundedFolder(self.cache_dir, max_files=files, max_bytes=files * (64 << 10))

    # -- the two lists ---------------------------------------------------------------------------------

    def _late(self, rowid: int, exclude: set[int]) -> list[int]:
        """The paper's own stored tokens as a late-interaction query: FDE candidates, exact MaxSim."""
        idx = self.retriever.indexes
        tokens = self.retriever.paper_tokens(rowid)
        if idx is None or tokens is None:
            return []
        n = self.config.late_candidates + len(exclude)
        keys = [k for k in self.retriever.fde_candidates(tokens, n, idx=idx) if k not in exclude]
        ranked = self.retriever.late(tokens, keys, self.config.depth, idx=idx)
        return [i for i, s in ranked.pairs() if np.isfinite(s)]

    def _lexical(self, paper: Paper, exclude: set[int]) -> list[int]:
        terms = more_like_this_terms(paper, self.config.lexical_terms)
        if not terms:
            return []
        ranked = self.retriever.bm25(" ".join(terms), self.config.depth + len(exclude))
        return [r for r in ranked.ids if r not in exclude][:self.config.depth]

    # -- cache -----------------------------------------------------------------------------------------

    def version(self) -> str:
        """What the cached lists depend on: the index checkpoint and the number of papers in the store."""
        return f"{self.retriever.version()}-{count_papers(self.engine)}"

    def _cache_path(self, rowids: Sequence[int]) -> Path:
        key = ",".join(str(r) for r in sorted(set(rowids)))
        params = f"{self.config.depth}/{self.config.late_candidates}/{self.config.lexical_terms}/" \
                 f"{self.config.weights}/{self.config.rrf_k}"
        digest = hashlib.sha1(f"{key}|{params}".encode()).hexdigest()[:24]
        return self.cache_dir / f"{digest}.json"

    def _read_cache(self, path: Path, version: str) -> list[SearchHit] | None:
        try:
            data = orjson.loads(path.read_bytes())
        except (FileNotFoundError, orjson.JSONDecodeError):
            return None
        if data.get("version") != version:
            return None
        self.cache_bounds.touch(path)
        return [SearchHit(rowid=int(r), paper_id="", score=float(s), components=dict(c))
                for r, s, c in data["hits"]]

    def _write_cache(self, path: Path, version: str, hits: list[SearchHit]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Readers see the old entry or the new one, never half of one; a cache, so no fsync.
        write_atomically(path, orjson.dumps({"version": version,
                                             "hits": [[h.rowid, h.score, h.components] for h in hits]}),
                         durable=False)
        self.cache_bounds.wrote()

    # -- the public entry point ------------------------------------------------------------------------

    def candidates(self, papers: Sequence[Paper]) -> tuple[list[SearchHit], bool, list[str]]:
        """The fused ranking for `papers` (cached): (hits best first, from cache?, notes)."""
        seeds = [p for p in papers if p.rowid is not None][:self.config.max_seeds]
        rowids = [int(p.rowid) for p in seeds if p.rowid is not None]
        notes: list[str] = []
        if self.retriever.indexes is None:
            notes.append("no vector index yet (run `paperscope index`): similar papers by words only")
        version = self.version()
        path = self._cache_path(rowids)
        cached = self._read_cache(path, version)
        if cached is not None:
            return cached, True, notes
        exclude = set(rowids)
        lists: dict[str, list[int]] = {}
        weights: dict[str, float] = {}
        base = dict(self.config.weights)
        for p in seeds:
            assert p.rowid is not None
            lists[f"late:{p.rowid}"] = self._late(p.rowid, exclude)
            lists[f"lexical:{p.rowid}"] = self._lexical(p, exclude)
            weights[f"late:{p.rowid}"] = base.get("late", 0.0)
            weights[f"lexical:{p.rowid}"] = base.get("lexical", 0.0)
        fused = reciprocal_rank_fusion(lists, weights, self.config.rrf_k)[:self.config.depth]
        ranks = {name: {r: i + 1 for i, r in enumerate(ids)} for name, ids in lists.items()}
        hits = []
        for rowid, score in fused:
            components: dict[str, float] = {}
            for kind in ("late", "lexical"):
                found = [ranks[f"{kind}:{r}"][rowid] for r in rowids if rowid in ranks[f"{kind}:{r}"]]
                if found:
                    components[f"{kind}_rank"] = float(min(found))
            hits.append(SearchHit(rowid=rowid, paper_id="", score=score, components=components))
        self._write_cache(path, version, hits)
        return hits, False, notes

    def similar(self, papers: Sequence[Paper], *, k: int = 10, offset: int = 0, diverse: bool = False,
                theta: float = DEFAULT_THETA, method: str = "dpp") -> SimilarResult:
        """Papers similar to one paper or to a set, paged; `diverse` re-ranks the candidates (DPP, θ)."""
        hits, cached, notes = self.candidates(papers)
        # Checked on every call, not cached: a paper hidden after the list was cached must still vanish.
        hidden = hidden_among(self.engine, [h.rowid for h in hits])
        if hidden:
            hits = [h for h in hits if h.rowid not in hidden]
        idx = self.retriever.indexes
        if diverse and idx is not None and hits:
            vectors = self.retriever.pooled_vectors([h.rowid for h in hits], idx=idx)
            hits = diversify(hits, vectors, theta=theta, method=method, k=offset + k)
        elif diverse:
            notes.append("no vector index yet: results are not diversified")
        page = hits[max(0, offset):max(0, offset) + max(0, k)]
        found = {p.rowid: p for p in get_papers_by_rowid(self.engine, [h.rowid for h in page])}
        page = [SearchHit(rowid=h.rowid, paper_id=found[h.rowid].paper_id, score=h.score,
                          components=h.components) for h in page if h.rowid in found]
        return SimilarResult(seeds=[p.paper_id for p in papers], hits=page, total=len(hits), offset=offset,
                             cached=cached, diverse=diverse and idx is not None, notes=notes)

    def similar_papers(self, papers: Sequence[Paper], k: int = 10, **options: object) -> list[Paper]:
        """The similar papers themselves (for pages and digests), best first."""
        result = self.similar(papers, k=k, **options)  # type: ignore[arg-type]
        found = {p.rowid: p for p in get_papers_by_rowid(self.engine, [h.rowid for h in result.hits])}
        return [found[h.rowid] for h in result.hits if h.rowid in found]
