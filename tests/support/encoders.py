"""Wrappers around the real bundled encoder that save tests from encoding the same texts twice."""

from __future__ import annotations

import fcntl
import os
import shutil
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

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


class ConvertedModels:
    """The bundled graph's one-off int8 conversion (`embed/quantize.py`, ~7 s of CPU) made once per test
    session, then hard-linked into each new home's model cache: the same file the conversion would have
    written there, so every test, its CLI runs and its servers load the real converted model without
    converting it again. pytest-xdist workers share `folder`: the first converts, under a file lock, and
    the others find the file."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.enabled = True  # off while a module that tests the conversion itself runs
        self._lock = threading.Lock()

    def seed(self, cache_dir: Path, convert: Callable[..., Path], source: Path, stem: str,
             per_channel: bool = True) -> None:
        """Put the session's conversion of `source` into `cache_dir` (converting it first if needed)."""
        # Web servers and index threads load encoders off the main thread; other workers, in other processes.
        with self._lock, (self.folder / ".lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            converted = convert(source, self.folder, stem, per_channel)
        target = cache_dir / converted.name
        if not target.exists():
            cache_dir.mkdir(parents=True, exist_ok=True)
            try:
                os.link(converted, target)
            except FileExistsError:  # another thread of the same test seeded it first
                pass
            except OSError:  # another file system
                shutil.copyfile(converted, target)

    def seed_home(self, home: Path) -> Path:
        """`home` with the bundled model's conversion in its cache, for a process the test starts."""
        from paperscope.embed.bundled import bundled_files
        from paperscope.embed.quantize import dynamic_int8

        self.seed(home / "models", dynamic_int8, bundled_files()[0], "all-MiniLM-L6-v2")
        return home
