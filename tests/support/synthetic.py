"""Synthetic papers: many, quick to encode, distinct enough for an index."""

from __future__ import annotations

import numpy as np

from paperscope.model import Paper

_WORDS = ("sparse", "dense", "retrieval", "protein", "graph", "diffusion", "token", "reasoning", "robot")


def synthetic_papers(n: int, start: int = 0) -> list[Paper]:
    """`n` papers with arXiv ids 2601.<start..>, titles and abstracts drawn from a small vocabulary."""
    rng = np.random.default_rng(start)
    return [Paper(arxiv_id=f"2601.{start + i:05d}", title=" ".join(rng.choice(_WORDS, 6)),
                  abstract=" ".join(rng.choice(_WORDS, 60)), categories=("cs.IR",), source="test")
            for i in range(n)]
