"""Store embeddings -> index files, without the model: catch-up, repair and rebuild.

`IndexSync.run` compares the index set's manifest with the store. Rows above the manifest's `seq` are
added and saved, the manifest moving last (a kill re-adds at most one batch, which the indexes treat as
a replacement). When the index cannot be brought forward - built from another model row or codec, ahead
of the store (a restored backup), missing, of another shape, or written before embeddings were stored -
a new set is built from the store beside the old one and swapped in by renaming.

One writer per index folder at a time (a file lock); several web workers of one home share its result,
and servers with their own homes each keep their own copy.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa

from paperscope.files import file_lock
from paperscope.index.indexset import IndexLayout, IndexSet, IndexSpec, Manifest
from paperscope.index.profiles import profile_for
from paperscope.index.token_codec import TokenCodec
from paperscope.store.embeddings import EmbeddingModel, StoredEmbedding, embeddings_after, max_seq

# Embeddings read and added per step (~15 KB each; their decoded rows ~50 KB): bounds the rebuild's memory.
SYNC_BATCH = 500
# Files an index folder held before the vectors moved to `vectors/`.
_LEGACY = ("pooled.usearch", "pooled.usearch.json", "fde.usearch", "fde.usearch.json", "tokens",
           "manifest.json")


@dataclass
class SyncReport:
    """What one sync did."""

    added: int = 0
    rebuilt: bool = False
    reason: str = ""
    seconds: float = 0.0
    last_seq: int = 0


def decode_rows(rows: list[StoredEmbedding], dim: int, reduced_dim: int
                ) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Stored rows as (keys, pooled float32 (n, dim), int8 token rows per paper)."""
    keys = np.array([r.paper for r in rows], dtype=np.int64)
    pooled = np.frombuffer(b"".join(r.pooled for r in rows), dtype=np.float16).astype(np.float32)
    codes = [np.frombuffer(r.tokens, dtype=np.int8).reshape(-1, reduced_dim) for r in rows]
    return keys, pooled.reshape(len(rows), dim), codes


@contextmanager
def sync_lock(root: Path, wait: bool) -> Iterator[bool]:
    """The index folder's writer lock: yields True when held (False without `wait` if another has it)."""
    root.mkdir(parents=True, exist_ok=True)
    with file_lock(root / ".sync.lock", wait=wait) as held:
        yield held


def spec_for(model: EmbeddingModel, **shape: Any) -> IndexSpec:
    """The index spec for a stored model: its dimension and pooling, the FDE shape given (or its
    retrieval profile's)."""
    return IndexSpec(model=model.name, dim=int(model.spec["dim"]),
                     token_pool_factor=int(model.spec.get("token_pool_factor", 2)),
                     **{**profile_for(model.name).fde.as_spec_fields(), **shape})


class IndexSync:
    """Keeps the index set under `root` equal to the store's embeddings of one model.

    Holds the writable index set between runs (re-opened when another process moved the manifest), so a
    catch-up of a few papers costs an add and a save, not a load.
    """

    def __init__(self, engine: sa.Engine, root: Path) -> None:
        self.engine, self.layout = engine, IndexLayout(root)
        self._open: IndexSet | None = None
        self._opened_version: tuple[int, int] | None = None

    def _manifest_version(self) -> tuple[int, int] | None:
        try:
            st = self.layout.manifest.stat()
        except FileNotFoundError:
            return None
        return st.st_ino, st.st_mtime_ns

    def _writable(self) -> IndexSet | None:
        version = self._manifest_version()
        if self._open is None or version != self._opened_version:
            self._open = IndexSet.open_layout(self.layout) if version is not None else None
            self._opened_version = version
        return self._open

    def stale_reason(self, model: EmbeddingModel, manifest: Manifest | None, store_seq: int,
                     shape: dict[str, Any] | None) -> str:
        """Why the index set cannot be brought forward from `manifest` (empty if it can)."""
        codec = TokenCodec.from_bytes(model.codec).digest() if model.codec is not None else None
        if manifest is None:
            return "no index yet" if not self._has_legacy() else "index from before embeddings were stored"
        if manifest.model_id != model.id or manifest.codec != codec:
            return "index built from other embeddings"
        if manifest.last_seq > store_seq:
            return "index ahead of the store (restored backup?)"
        if shape and any(getattr(manifest.spec, k) != v for k, v in shape.items()):
            return "new index shape"
        return ""

    def _has_legacy(self) -> bool:
        return any((self.layout.root / name).exists() for name in _LEGACY)

    def run(self, model: EmbeddingModel, *, rebuild: bool = False, shape: dict[str, Any] | None = None,
            wait: bool = True, on_progress: Callable[[int, int], None] | None = None) -> SyncReport:
        """Bring the index set up to date with `model`'s stored embeddings (see the module docstring).

        `shape` (IndexSpec FDE fields) applies to a new or rebuilt set; `rebuild` forces one. Without `wait`
        a sync already running elsewhere makes this a no-op.
        """
        start = time.perf_counter()
        report = SyncReport()
        if model.codec is None:  # nothing embedded yet
            return report
        with sync_lock(self.layout.root, wait) as held:
            if not held:
                return report
            store_seq = max_seq(self.engine, model.id)
            current = self._writable()
            manifest = current.manifest if current is not None else Manifest.read(self.layout.manifest)
            report.reason = ("rebuild asked for" if rebuild
                             else self.stale_reason(model, manifest, store_seq, shape))
            if report.reason:
                kept = {} if manifest is None or report.reason == "new index shape" else {
                    k: getattr(manifest.spec, k) for k in ("fde_r_reps", "fde_k_sim", "fde_d_proj",
                                                           "fde_final_dim", "fde_seed")}
                report.added = self._rebuild(model, spec_for(model, **{**kept, **(shape or {})}), store_seq,
                                             on_progress)
                report.rebuilt = True
            elif current is not None and manifest is not None and store_seq > manifest.last_seq:
                report.added = self._add_after(current, model, manifest.last_seq, store_seq, on_progress)
                self._opened_version = self._manifest_version()
            report.last_seq = store_seq
        report.seconds = time.perf_counter() - start
        return report

    def _add_after(self, idx: IndexSet, model: EmbeddingModel, after: int, upto: int,
                   on_progress: Callable[[int, int], None] | None) -> int:
        added, last = 0, after
        dim, reduced = int(model.spec["dim"]), idx.tokens.reduced_dim
        while last < upto:
            rows = [r for r in embeddings_after(self.engine, model.id, last, SYNC_BATCH) if r.seq <= upto]
            if not rows:
                break
            keys, pooled, codes = decode_rows(rows, dim, reduced)
            idx.add_embeddings(keys, pooled, codes)
            added += len(rows)
            last = rows[-1].seq
            if on_progress is not None:
                on_progress(added, 0)
        idx.save(upto)
        return added

    def _rebuild(self, model: EmbeddingModel, spec: IndexSpec, upto: int,
                 on_progress: Callable[[int, int], None] | None) -> int:
        assert model.codec is not None
        scratch = IndexLayout(self.layout.root / f".rebuild-{os.getpid()}")
        if scratch.root.exists():
            shutil.rmtree(scratch.root)
        idx = IndexSet.create(scratch, spec, TokenCodec.from_bytes(model.codec))
        idx.manifest.model_id = model.id
        added = self._add_after(idx, model, 0, upto, on_progress)
        self._swap_in(scratch)
        self._open, self._opened_version = None, None
        return added

    def _swap_in(self, scratch: IndexLayout) -> None:
        """Replace `vectors/` with the scratch set's by two renames (readers keep files they have open)."""
        old = self.layout.root / f".old-{os.getpid()}"
        if self.layout.vectors.exists():
            os.replace(self.layout.vectors, old)
        os.replace(scratch.vectors, self.layout.vectors)
        shutil.rmtree(old, ignore_errors=True)
        shutil.rmtree(scratch.root, ignore_errors=True)
        for name in _LEGACY:
            path = self.layout.root / name
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        for stray in self.layout.root.glob(".rebuild-*"):  # left by a killed rebuild
            shutil.rmtree(stray, ignore_errors=True)
        for stray in self.layout.root.glob(".old-*"):
            shutil.rmtree(stray, ignore_errors=True)
