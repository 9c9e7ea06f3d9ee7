"""Wrappers around the real bundled encoder that save tests from encoding the same texts twice."""

from __future__ import annotations

from collections.abc import Sequence

from paperscope.embed import Encoded, Encoder


class MemoEncoder:
    """The real bundled encoder, remembering documents it has encoded: every test indexes the same
    corpus (on two backends), and encoding it again would only cost time."""

    def __init__(self, inner: Encoder) -> None:
        self.inner, self.name, self.dim = inner, inner.name, inner.dim
        # Stored embeddings record their maker: the same identity as the wrapped encoder.
        self.identity = getattr(inner, "identity", None)
        self._docs: dict[str, Encoded] = {}

    def encode_documents(self, texts: Sequence[str], batch_size: int = 32) -> list[Encoded]:
        missing = [t for t in dict.fromkeys(texts) if t not in self._docs]
        if missing:
            self._docs.update(zip(missing, self.inner.encode_documents(missing), strict=True))
        return [self._docs[t] for t in texts]

    def encode_queries(self, texts: Sequence[str], batch_size: int = 32) -> list[Encoded]:
        return self.inner.encode_queries(texts, batch_size)
