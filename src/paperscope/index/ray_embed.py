"""The embedding backfill as a Ray job: one encoder per Ray actor, the store as the only meeting point.

The driver (the process running `paperscope index --ray`) holds the store's embedder lock, reads the
work list (row ids of papers without an embedding for the model, newest listing first) and hands the
actors batches of paper texts - the same batches, in the same order, as the local path's
`Embedder.run`, and each actor's encoder sorts its batch by token length as the local one does. Each
actor writes its batch to the store in one transaction with `write_embeddings` and returns counts only,
so no vectors pass through the driver.

Kill-safety comes from the store, not from Ray: a paper has at most one embedding per model and a batch
is one transaction, so an actor killed mid-batch (Ray restarts it and re-runs the batch; a batch already
committed adds nothing the second time) or a driver killed mid-job (its actors die with it; the next run
reads a work list without what was written) leaves no paper missing and none written twice.

The codec (PCA basis, int8 scales) must be the same for every worker, so when the model has none yet the
driver encodes the first batch itself and fits it there, exactly as the local path does.

Workers must reach the store: a SQLite file only exists on this machine, so SQLite works with the local
Ray that `--ray` starts and is refused against a cluster address; PostgreSQL must be reachable from every
node under the URL the driver uses. Ray is imported only here, and only when asked for.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import sqlalchemy as sa

from paperscope.embed import Encoder, load_encoder, paper_text
from paperscope.embed.onnx_model import available_cores
from paperscope.index.embedder import DEFAULT_POOL_FACTOR, Embedder, embedding_rows
from paperscope.index.token_codec import TokenCodec
from paperscope.runtime import BLAS_THREADS
from paperscope.settings import Settings
from paperscope.store import create_engine
from paperscope.store.embeddings import (
    EmbeddingModel,
    get_model,
    paper_texts,
    unembedded_ids,
    write_embeddings,
)

INSTALL_HINT = "pip install 'paperscope[ray]'  (or: pip install ray)"
# Batches queued per actor: one running, one waiting, so an actor never idles on the driver.
IN_FLIGHT_PER_ACTOR = 2
# How often Ray restarts a dead actor and re-runs its batches before the job gives up on that actor.
MAX_RESTARTS = 3
# The local Ray's shared-memory object store: batches are a few hundred KB of text, counts come back.
LOCAL_OBJECT_STORE_BYTES = 256 * 1024 * 1024


class RayUnavailable(ValueError):
    """Ray is not installed here."""


class StoreUnreachable(ValueError):
    """The Ray workers could not write to this store."""


class RayJobFailed(ValueError):
    """A worker failed for good; what the job stored is kept, and a re-run continues from there."""


def import_ray() -> ModuleType:
    """The `ray` module, or `RayUnavailable` saying how to install it."""
    try:
        import ray
    except ImportError:
        raise RayUnavailable(f"--ray needs Ray, which is not installed: {INSTALL_HINT}") from None
    return ray


def check_store_for_ray(db_url: str, address: str | None) -> None:
    """Refuse what cannot work before anything starts: a SQLite store with a cluster `address` (workers
    on other machines cannot write a file on this one)."""
    if sa.engine.make_url(db_url).get_backend_name() == "sqlite" and address:
        raise StoreUnreachable(
            f"the store is a SQLite file on this machine; Ray workers on the cluster at {address} cannot "
            "write to it. Use `--ray` without an address (a local Ray on this machine's cores), or move "
            "the store to PostgreSQL (PAPERSCOPE_DATABASE_URL) reachable from every node")


def _is_local_host(host: str | None) -> bool:
    if not host or host.startswith("/") or host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_cluster_reaches(ray: ModuleType, db_url: str) -> None:
    """A PostgreSQL URL naming this machine (localhost, a socket) means nothing on other nodes."""
    url = sa.engine.make_url(db_url)
    if url.get_backend_name() == "sqlite" or not _is_local_host(url.host):
        return
    here = ray.util.get_node_ip_address()
    others = {n["NodeManagerAddress"] for n in ray.nodes() if n.get("Alive")} - {here}
    if others:
        raise StoreUnreachable(
            f"the store's PostgreSQL is at {url.host or 'a local socket'}, which Ray workers on "
            f"{', '.join(sorted(others))} cannot reach; give PAPERSCOPE_DATABASE_URL a host name or "
            "address every node can connect to")


class EmbedWorker:
    """One Ray actor: an encoder with `threads` cores, a connection to the store, the model's codec."""

    def __init__(self, db_url: str, model_id: int, home: str, model_dir: str, threads: int) -> None:
        home_path = Path(home)
        if not os.access(home_path if home_path.exists() else home_path.parent, os.W_OK):
            # Another node: cache the converted graph in its own temp folder.
            import tempfile

            home_path = Path(tempfile.gettempdir()) / "paperscope-ray"
        settings = Settings(home=home_path, model=model_dir)
        self.engine = create_engine(db_url)
        # Read from the store, not passed in: a restarted actor needs nothing the driver may have dropped.
        model = get_model(self.engine, model_id)
        if model is None or model.codec is None:
            raise RuntimeError(f"embedding model {model_id} is gone from the store or has no codec")
        self.encoder = load_encoder(settings, threads=threads)
        identity = self.encoder.identity
        expected = (model.spec.get("model"), model.spec.get("fingerprint"))
        if identity is None or (identity.name, identity.fingerprint) != expected:
            found = (identity.name, identity.fingerprint) if identity else None
            raise RuntimeError(f"this node's encoder {found} is not the store's {expected}: install the same "
                               "paperscope (and PAPERSCOPE_MODEL files) on every Ray node")
        self.codec = TokenCodec.from_bytes(model.codec)
        self.model_id = model.id
        self.pool_factor = int(model.spec.get("token_pool_factor", DEFAULT_POOL_FACTOR))

    def embed(self, batch: list[tuple[int, str]]) -> tuple[int, int, float]:
        """Encode and store one batch of (row id, text); returns (papers handled, rows new to the store,
        seconds spent encoding). A batch already stored (a re-run after a kill) adds nothing."""
        t = time.perf_counter()
        encoded = self.encoder.encode_documents([text for _, text in batch])
        encode_s = time.perf_counter() - t
        rows = embedding_rows([rowid for rowid, _ in batch], encoded, self.codec, self.pool_factor)
        added = write_embeddings(self.engine, self.model_id, rows)
        return len(batch), added, encode_s

    def pid(self) -> int:
        return os.getpid()


@dataclass
class RayEmbedReport:
    """What one Ray backfill did."""

    added: int = 0
    done: int = 0
    workers: int = 0
    cpus: float = 0.0
    retried_batches: int = 0
    ray_start_seconds: float = 0.0
    seconds: float = 0.0
    encode_seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.done / self.seconds if self.seconds > 0 else 0.0


def _start_ray(ray: ModuleType, address: str | None, cpus: int | None) -> bool:
    """Connect to `address`, or start a local Ray on `cpus` cores; True when this call started it."""
    if ray.is_initialized():
        return False
    common: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                              "configure_logging": True, "logging_level": "ERROR"}
    if address:
        ray.init(address=address, **common)
        return True
    import paperscope

    # Local workers run the driver's code, wherever it was imported from (a checkout on PYTHONPATH too).
    source = str(Path(paperscope.__file__).resolve().parents[1])
    path = os.pathsep.join(p for p in (source, os.environ.get("PYTHONPATH", "")) if p)
    ray.init(address="local", num_cpus=cpus or available_cores(),
             object_store_memory=LOCAL_OBJECT_STORE_BYTES,
             runtime_env={"env_vars": {"PYTHONPATH": path, **BLAS_THREADS}}, **common)
    return True


def embed_with_ray(engine: sa.Engine, settings: Settings, model: EmbeddingModel, *,
                   address: str | None = None, cpus: int | None = None, threads: int = 1,
                   batch_size: int = 256, limit: int | None = None,
                   on_progress: Callable[[int, int], None] | None = None,
                   on_workers: Callable[[list[Any]], None] | None = None,
                   encoder: Encoder | None = None) -> tuple[RayEmbedReport, EmbeddingModel]:
    """Embed every paper without an embedding under `model` (at most `limit`) on Ray; returns the report
    and the model (with its codec, fitted here first when it had none).

    `address` joins a running cluster; without it a local Ray starts on `cpus` cores (default: all), or an
    already initialised Ray in this process is used. Each actor takes `threads` cores. The caller holds
    the store's `EmbedderLock`. `on_progress(done, total)` follows every finished batch; `on_workers`
    receives the actor handles once they exist (tests use it to kill one). `encoder`, when the caller
    has one loaded, fits the codec (otherwise one is loaded for that, only when the model has no codec).
    """
    ray = import_ray()
    check_store_for_ray(settings.db_url, address)
    report = RayEmbedReport()
    start = time.perf_counter()
    todo = unembedded_ids(engine, model.id, limit)
    total = len(todo)
    if not todo:
        return report, model

    def progress() -> None:
        if on_progress is not None:
            on_progress(report.done, total)

    # Ray starts first: its processes come up while the first batch fits the codec here.
    started = False
    if len(todo) > (batch_size if model.codec is None else 0):
        t = time.perf_counter()
        started = _start_ray(ray, address, cpus)
        report.ray_start_seconds = time.perf_counter() - t
    actors: list[Any] = []
    try:
        if model.codec is None:
            model = _fit_codec(engine, encoder or load_encoder(settings), model, todo[:batch_size], report)
            encoder = None  # the workers have their own; this one's memory can go
            todo = todo[batch_size:]
            progress()
        batches = [todo[i:i + batch_size] for i in range(0, len(todo), batch_size)]
        if batches:
            if address:
                _check_cluster_reaches(ray, settings.db_url)
            report.cpus = float(ray.cluster_resources().get("CPU", 1))
            count = max(1, min(int(report.cpus // threads), len(batches)))
            worker = ray.remote(EmbedWorker).options(num_cpus=threads, max_restarts=MAX_RESTARTS,
                                                     max_task_retries=MAX_RESTARTS)
            actors = [worker.remote(settings.db_url, model.id, str(settings.home), settings.model, threads)
                      for _ in range(count)]
            report.workers = count
            if on_workers is not None:
                on_workers(actors)
            _run_batches(ray, engine, actors, batches, report, progress)
    finally:
        for actor in actors:
            # A lost connection must not hide the error that brought us here.
            with contextlib.suppress(Exception):
                ray.kill(actor)
        if started:
            ray.shutdown()
    report.seconds = time.perf_counter() - start
    return report, model


def _fit_codec(engine: sa.Engine, encoder: Encoder, model: EmbeddingModel, rowids: list[int],
               report: RayEmbedReport) -> EmbeddingModel:
    """Encode the first batch here and store it with the codec it fits, as the local path does: every
    worker must compress with that one codec. Returns the model with its codec."""
    embedder = Embedder(engine, encoder, model)
    done, encode_s = embedder.embed_papers(paper_texts(engine, rowids))
    model = embedder.model if embedder.model.codec is not None else (get_model(engine, model.id) or model)
    if model.codec is None:
        raise RayJobFailed("the first batch fitted no codec (were its papers deleted?); run this again")
    report.done, report.added, report.encode_seconds = done, done, encode_s
    return model


def _run_batches(ray: ModuleType, engine: sa.Engine, actors: list[Any], batches: list[list[int]],
                 report: RayEmbedReport, progress: Callable[[], None]) -> None:
    """Keep every actor busy until every batch is stored; a batch whose actor died for good goes to
    another actor (what it may have written already is kept and not written again)."""
    from ray.exceptions import RayActorError, RayError

    queue = deque(range(len(batches)))
    alive = list(actors)
    load = {id(a): 0 for a in alive}
    pending: dict[Any, tuple[int, Any]] = {}
    while queue or pending:
        for actor in alive:
            while queue and load[id(actor)] < IN_FLIGHT_PER_ACTOR:
                index = queue.popleft()
                texts = paper_texts(engine, batches[index])
                payload = [(p.rowid, paper_text(p.title, p.abstract)) for p in texts]
                pending[actor.embed.remote(payload)] = (index, actor)
                load[id(actor)] += 1
        ready, _ = ray.wait(list(pending), num_returns=1)
        for ref in ready:
            index, actor = pending.pop(ref)
            load[id(actor)] -= 1
            try:
                done, added, encode_s = ray.get(ref)
            except RayActorError as exc:
                if actor in alive:
                    alive.remove(actor)
                if not alive:
                    raise RayJobFailed(f"every Ray worker died ({exc}); what they stored is kept: run "
                                       "this again to continue") from exc
                report.retried_batches += 1
                queue.appendleft(index)
                continue
            except RayError as exc:
                raise RayJobFailed(f"a Ray worker failed ({exc}); what the job stored is kept: run this "
                                   "again to continue") from exc
            report.done += done
            report.added += added
            report.encode_seconds += encode_s
            progress()
