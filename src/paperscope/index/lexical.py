"""An in-memory BM25 index (title, abstract, authors) for fast lexical search.

SQLite FTS5 and PostgreSQL full text compute a score for *every* paper matching any query term; a
title-like query shares common words ("model", "learning") with tens of thousands of papers, which took
240 ms per query on the 74.5k-paper store. Here each term's postings are a contiguous slice of two
arrays, so a query is a few vectorised additions over those slices plus one partial sort: about a
millisecond (benchmarks/search_latency.py).

Scoring is BM25F-style: a term's frequency in a paper is weighted by field (title 2, abstract 1, authors
0.5, the weights FTS5 uses in store/fulltext.py) before BM25 saturation; words are lower-cased,
stopwords dropped and Snowball-stemmed. The arrays are saved as .npy files under one directory and
memory-mapped, so several web workers share one copy in the page cache.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import Stemmer

from paperscope.files import fsync_directory, fsync_file
from paperscope.store.fulltext import query_terms

K1 = 1.2
B = 0.75
# Field weights x 2, so that every weighted frequency is a whole number (stored as uint16).
FIELD_WEIGHTS_X2 = (4, 2, 1)  # title, abstract, authors
_WORD = re.compile(r"\w+", re.UNICODE)
_ARRAYS = ("indptr", "postings", "tf_x2", "doc_len_x2", "keys", "impact")


@dataclass(frozen=True)
class LexicalDoc:
    """One paper's searchable text."""

    key: int
    title: str
    abstract: str
    authors: Sequence[str]


class _Analyzer:
    """Text -> stemmed terms; stems are cached (a corpus has far fewer distinct words than words)."""

    def __init__(self) -> None:
        self.stemmer = Stemmer.Stemmer("english")
        self._cache: dict[str, str] = {}

    def terms(self, text: str) -> list[str]:
        words = [w for w in _WORD.findall(text.lower()) if w != "_"]
        unknown = [w for w in set(words) if w not in self._cache]
        if unknown:
            self._cache.update(zip(unknown, self.stemmer.stemWords(unknown), strict=True))
        cache = self._cache
        return [cache[w] for w in words]

    def query(self, text: str) -> list[str]:
        """Query terms: the same stopword rules as the full-text search, stemmed, de-duplicated."""
        return list(dict.fromkeys(self.terms(" ".join(query_terms(text)))))


class LexicalIndex:
    """BM25 over postings held as CSR arrays: term -> (document positions, weighted frequencies)."""

    def __init__(self, vocab: dict[str, int], indptr: np.ndarray, postings: np.ndarray, tf_x2: np.ndarray,
                 doc_len_x2: np.ndarray, keys: np.ndarray, last_rowid: int,
                 impact: np.ndarray | None = None) -> None:
        self.vocab = vocab
        self.indptr = indptr
        self.postings = postings
        self.tf_x2 = tf_x2
        self.doc_len_x2 = doc_len_x2
        self.keys = keys
        self.last_rowid = last_rowid
        self._analyzer = _Analyzer()
        # Each posting's whole BM25 contribution depends only on corpus statistics, so it is computed
        # when the index is built and a query only adds up slices.
        self.impact = impact if impact is not None else self._impacts()

    def _impacts(self) -> np.ndarray:
        n = len(self.keys)
        avg = float(self.doc_len_x2.mean()) if n else 1.0
        norm = K1 * (1 - B + B * self.doc_len_x2.astype(np.float64) / max(avg, 1e-9))
        df = np.diff(self.indptr).astype(np.float64)
        idf = np.log((n - df + 0.5) / (df + 0.5) + 1.0)
        term_of = np.repeat(np.arange(len(df)), np.diff(self.indptr))
        tf = self.tf_x2.astype(np.float64) * 0.5
        return (idf[term_of] * tf * (K1 + 1) / (tf + norm[self.postings])).astype(np.float32)

    def __len__(self) -> int:
        return len(self.keys)

    # -- building ----------------------------------------------------------------------------------------

    @classmethod
    def empty(cls) -> LexicalIndex:
        return cls({}, np.zeros(1, np.int64), np.zeros(0, np.int32), np.zeros(0, np.uint16),
                   np.zeros(0, np.float32), np.zeros(0, np.int64), 0)

    def with_documents(self, docs: Iterable[LexicalDoc], last_rowid: int) -> LexicalIndex:
        """A new index holding this one's documents plus `docs` (a document whose key is already
        present replaces the old one). `last_rowid` is the store checkpoint the result covers."""
        vocab = dict(self.vocab)
        stemmer = self._analyzer.stemmer
        word_ids: dict[str, int] = {}  # surface word -> term id: each distinct word is stemmed once
        # Typed arrays, not lists: a first load holds ~15 M term occurrences (4 + 1 bytes each here,
        # ~36 as Python ints in a list).
        flat_ids = array("i")
        flat_w = array("b")
        new_keys: list[int] = []
        lengths: list[int] = []
        for doc in docs:
            start = len(flat_ids)
            for text, weight in zip((doc.title, doc.abstract, " ".join(doc.authors)), FIELD_WEIGHTS_X2,
                                    strict=True):
                words = [w for w in _WORD.findall(text.lower()) if w != "_"]
                unknown = [w for w in set(words) if w not in word_ids]
                for word, stem in zip(unknown, stemmer.stemWords(unknown), strict=True):
                    word_ids[word] = vocab.setdefault(stem, len(vocab))
                flat_ids.extend([word_ids[w] for w in words])
                flat_w.extend([weight] * len(words))
            new_keys.append(doc.key)
            lengths.append(len(flat_ids) - start)
        term_ids = [np.frombuffer(flat_ids, dtype=np.int32).astype(np.int64)]
        weights = [np.frombuffer(flat_w, dtype=np.int8).astype(np.int64)]
        del flat_ids, flat_w
        # Old postings as (term, doc position, tf) triples, minus documents being replaced.
        old_terms = np.repeat(np.arange(len(self.indptr) - 1, dtype=np.int64), np.diff(self.indptr))
        old_docs = self.postings.astype(np.int64)
        old_tf = self.tf_x2.astype(np.int64)
        keep_doc = ~np.isin(self.keys, np.asarray(new_keys, dtype=np.int64))
        # Surviving old documents keep their order; new ones follow.
        remap = np.full(len(self.keys), -1, dtype=np.int64)
        remap[keep_doc] = np.arange(int(keep_doc.sum()))
        alive = keep_doc[old_docs] if len(old_docs) else np.zeros(0, bool)
        base = int(keep_doc.sum())
        new_doc_pos = np.repeat(np.arange(base, base + len(new_keys), dtype=np.int64),
                                np.asarray(lengths, dtype=np.int64))
        n_docs = base + len(new_keys)
        new_len = np.bincount(new_doc_pos - base, weights=weights[0], minlength=len(new_keys))
        # Sum repeated (term, document) pairs into one posting; sorting the combined key also orders
        # postings by term, which is what CSR needs. Old postings carry their summed tf, new
        # occurrences their field weight (< 2^16 either way), packed below the key so that one in-place
        # sort of one int64 array does it all (np.unique's copies made a first load's peak 1.8 GB).
        width = max(n_docs, 1)
        combined = np.concatenate([(old_terms[alive] * width + remap[old_docs[alive]]) << 16 | old_tf[alive],
                                   (term_ids[0] * width + new_doc_pos) << 16 | weights[0]])
        del old_terms, old_docs, old_tf, term_ids, weights, new_doc_pos
        combined.sort()
        pair = combined >> 16
        starts = np.flatnonzero(np.r_[True, pair[1:] != pair[:-1]]) if len(pair) else np.zeros(0, np.int64)
        uniq = pair[starts]
        del pair
        tf = np.add.reduceat(combined & 0xFFFF, starts) if len(starts) else np.zeros(0, np.int64)
        del combined
        terms_sorted = uniq // width
        indptr = np.zeros(len(vocab) + 1, dtype=np.int64)
        np.cumsum(np.bincount(terms_sorted, minlength=len(vocab)), out=indptr[1:])
        doc_len = np.concatenate([self.doc_len_x2[keep_doc], new_len.astype(np.float32)])
        keys = np.concatenate([self.keys[keep_doc], np.asarray(new_keys, dtype=np.int64)])
        return LexicalIndex(vocab, indptr, (uniq % width).astype(np.int32),
                            np.minimum(tf, np.iinfo(np.uint16).max).astype(np.uint16),
                            doc_len.astype(np.float32), keys, max(self.last_rowid, last_rowid))

    # -- searching ---------------------------------------------------------------------------------------

    def search(self, query: str, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The `k` best (row ids, BM25 scores) for `query`, best first; only papers with a query term
        and, when `allowed` (row ids) is given, only those papers."""
        ids = [self.vocab[t] for t in self._analyzer.query(query) if t in self.vocab]
        if not ids or k <= 0 or not len(self.keys):
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        scores = np.zeros(len(self.keys), dtype=np.float32)
        for t in ids:
            lo, hi = self.indptr[t], self.indptr[t + 1]
            # A paper appears once in a term's postings, so this fancy-indexed add is exact.
            scores[self.postings[lo:hi]] += self.impact[lo:hi]
        if allowed is not None:
            scores[~np.isin(self.keys, allowed)] = 0.0
        if k < len(scores):
            kth = scores[np.argpartition(-scores, k - 1)[k - 1]]
            # Papers tied at the k-th score go in by row id, so a deeper or narrower search never swaps
            # which of several equal papers fill the last places (argpartition picks among ties freely).
            tied = np.flatnonzero(scores == kth)
            above = np.flatnonzero(scores > kth)
            tied = tied[np.argsort(self.keys[tied], kind="stable")][:k - len(above)]
            matched = np.concatenate([above, tied])
        else:
            matched = np.arange(len(scores))
        matched = matched[scores[matched] > 0]
        order = matched[np.lexsort((self.keys[matched], -scores[matched]))]
        return self.keys[order], scores[order]

    # -- persistence -------------------------------------------------------------------------------------

    def save(self, directory: Path) -> None:
        """Write to `directory` atomically (a sibling temp directory renamed into place)."""
        tmp = directory.with_name(f".{directory.name}.{os.getpid()}.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        for name in _ARRAYS:
            np.save(tmp / f"{name}.npy", getattr(self, name))
        terms = sorted(self.vocab, key=self.vocab.__getitem__)
        (tmp / "meta.json").write_text(json.dumps({"last_rowid": self.last_rowid, "terms": terms}))
        # A folder of files swapped whole, so not `write_atomically`; as durable as it, though.
        for written in tmp.iterdir():
            fsync_file(written)
        fsync_directory(tmp)
        old = directory.with_name(f".{directory.name}.{os.getpid()}.old")
        if directory.exists():
            os.replace(directory, old)
        os.replace(tmp, directory)
        fsync_directory(directory.parent)
        shutil.rmtree(old, ignore_errors=True)

    @classmethod
    def open(cls, directory: Path) -> LexicalIndex | None:
        """The index saved under `directory`, memory-mapped; None when there is none."""
        meta_path = directory / "meta.json"
        if not meta_path.is_file() or not all((directory / f"{n}.npy").is_file() for n in _ARRAYS):
            return None  # never built, or by an older layout: the caller builds it afresh
        meta = json.loads(meta_path.read_text())
        # np.asarray drops the memmap subclass (same pages): its per-slice bookkeeping cost ~20% of a query.
        arrays = {name: np.asarray(np.load(directory / f"{name}.npy", mmap_mode="r")) for name in _ARRAYS}
        vocab = {term: i for i, term in enumerate(meta["terms"])}
        return cls(vocab, last_rowid=int(meta["last_rowid"]), **arrays)
