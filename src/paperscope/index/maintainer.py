"""The web server's background work on the indexes: embed what is new, keep the local index files in step.

Every server process runs one `IndexMaintainer` thread. Each round it
  - becomes the store's embedder if nobody is (one per store: `store/embed_lock.py`) and embeds a small
    batch, newest papers first, at low CPU priority with one encoder thread (a core stays with the server);
  - brings its home's index files up to date from the store (`index/sync.py`), as soon as the store has
    rows it lacks - no model needed, so servers that do not embed still catch up within seconds.
Failures are logged and retried next round; the web app never waits on this thread.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from dataclasses import dataclass, field

import sqlalchemy as sa

from paperscope.embed import Encoder, encoder_identity, load_encoder
from paperscope.index.embedder import Embedder, ModelMismatch, current_model, resolve_model
from paperscope.index.indexset import IndexLayout, Manifest
from paperscope.index.legacy import import_legacy_index
from paperscope.index.sync import IndexSync
from paperscope.settings import Settings
from paperscope.store.embed_lock import EmbedderLock
from paperscope.store.embeddings import EmbeddingModel, max_seq

log = logging.getLogger("paperscope.index")

# Papers per background batch: small, so the newest papers become searchable within seconds and a
# shutdown waits little.
BACKGROUND_BATCH = 32
# Niceness of the embedding thread: web requests go first.
BACKGROUND_NICE = 10


@dataclass
class MaintainerStatus:
    """What the maintainer has done, for /api/stats and tests."""

    embedding: bool = False
    embedded: int = 0
    synced: int = 0
    rebuilds: int = 0
    last_error: str = ""
    warnings: list[str] = field(default_factory=list)


class IndexMaintainer:
    """Background embedding (optional) and catch-up for one server process."""

    def __init__(self, engine: sa.Engine, settings: Settings, *, embed: bool = True,
                 poll_seconds: float = 1.0) -> None:
        self.engine, self.settings, self.embed = engine, settings, embed
        self.poll_seconds = poll_seconds
        self.status = MaintainerStatus()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = EmbedderLock(engine)
        self._encoder: Encoder | None = None
        self._embedder: Embedder | None = None
        self._sync = IndexSync(engine, settings.index_dir)
        self._last_save = 0.0
        self._save_cost = 0.0
        self._next_lock_try = 0.0
        self._legacy_checked = False

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="paperscope-index", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the thread to stop and wait a little: a batch being encoded is not interrupted, and a
        daemon thread killed with the process loses only that batch's transaction (rolled back)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._lock.release()

    def _loop(self) -> None:
        if self.embed:
            # Linux sets a thread's priority by its task id; the server's threads keep theirs.
            with contextlib.suppress(AttributeError, OSError):
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), BACKGROUND_NICE)
        while not self._stop.is_set():
            busy = False
            try:
                busy = self.step()
                self.status.last_error = ""
            except Exception as exc:  # noqa: BLE001 - a bad round must not end the thread
                if str(exc) != self.status.last_error:
                    log.warning("index maintenance failed (retrying): %s", exc)
                self.status.last_error = str(exc)
            if not busy:
                self._stop.wait(self.poll_seconds)

    def _warn_once(self, message: str) -> None:
        if message not in self.status.warnings:
            self.status.warnings.append(message)
            log.warning("%s", message)

    def _model(self) -> EmbeddingModel | None:
        identity = encoder_identity(self.settings)
        if not self._legacy_checked:
            self._legacy_checked = True
            moved = import_legacy_index(self.engine, self.settings.index_dir, identity)
            if moved:
                log.warning("moved %d papers' vectors from the old index folder into the store", moved)
        if not self.embed or not self._lock.held:
            return current_model(self.engine, identity)
        if self._embedder is None:
            if self._encoder is None:
                # One intra-op thread: the other core stays with the web server.
                self._encoder = load_encoder(self.settings, threads=1)
            try:
                model = resolve_model(self.engine, identity, self._encoder.dim)
            except ModelMismatch as exc:
                self._warn_once(f"background embedding off: {exc}")
                self._lock.release()
                self.embed = False
                return current_model(self.engine, identity)
            self._embedder = Embedder(self.engine, self._encoder, model)
        return self._embedder.model

    def step(self) -> bool:
        """One round: embed a batch if this process is the embedder, then catch up. True while there is
        more to do right away."""
        now = time.monotonic()
        if self.embed and not self._lock.held and now >= self._next_lock_try:
            self._next_lock_try = now + 30.0
            self.status.embedding = self._lock.acquire()
        model = self._model()
        more = False
        if self._embedder is not None and self._lock.held:
            added, _ = self._embedder.embed_batch(BACKGROUND_BATCH)
            self.status.embedded += added
            more = added > 0
            model = self._embedder.model
        if model is not None:
            self._catch_up(model, force=not more)
        return more

    def _catch_up(self, model: EmbeddingModel, force: bool) -> None:
        """Sync when the store is ahead; while embedding, no more often than saves cost allow (a save
        rewrites the HNSW files)."""
        manifest = Manifest.read(IndexLayout(self.settings.index_dir).manifest)
        behind = (manifest is None or manifest.model_id != model.id
                  or manifest.last_seq != max_seq(self.engine, model.id))
        if not behind:
            return
        if not force and time.monotonic() - self._last_save < max(2.0, 5 * self._save_cost):
            return
        report = self._sync.run(model, wait=False)
        if report.added or report.rebuilt:
            self._save_cost, self._last_save = report.seconds, time.monotonic()
            self.status.synced += report.added
            self.status.rebuilds += int(report.rebuilt)
