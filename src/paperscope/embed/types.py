"""The encoder contract every later stage codes against: texts in, pooled + per-token vectors out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np


@dataclass(frozen=True)
class Encoded:
    """One text's vectors.

    `pooled` is the mean of the token states (as sentence-transformers pools), L2-normalised, shape (dim,).
    `tokens` holds one L2-normalised row per kept token, shape (n_tokens, dim), for late interaction.
    """

    pooled: np.ndarray
    tokens: np.ndarray


@dataclass(frozen=True)
class EncoderIdentity:
    """Which encoder produced a vector: its name and a fingerprint of its files and text settings. Two
    encoders with the same identity produce the same vectors; known without loading the model."""

    name: str
    fingerprint: str


@runtime_checkable
class Encoder(Protocol):
    """Turns texts into `Encoded` vectors; documents and queries are encoded differently."""

    name: str
    dim: int

    def encode_documents(self, texts: Sequence[str], batch_size: int = 32) -> list[Encoded]:
        """Document side: padding, special tokens and punctuation-only tokens are dropped from `tokens`."""
        ...

    def encode_queries(self, texts: Sequence[str], batch_size: int = 32) -> list[Encoded]:
        """Query side: every real (non-padding) token is kept in `tokens`."""
        ...


def paper_text(title: str, abstract: str) -> str:
    """The text the index embeds for a paper: "title. abstract" with whitespace collapsed."""
    title = " ".join(title.split()).rstrip(". ")
    abstract = " ".join(abstract.split())
    if not title:
        return abstract
    if not abstract:
        return title
    return f"{title}. {abstract}"
