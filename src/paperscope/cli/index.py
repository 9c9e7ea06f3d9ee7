"""`paperscope index`: BM25 index, embeddings into the store, vector indexes from the store."""

from __future__ import annotations

import shutil
import time
from typing import Annotated, Any

import typer

from paperscope.cli.common import Reporter, console, friendly_errors, open_store, settings_from


def _fde_shape(text: str) -> dict[str, int | None]:
    """`--fde R,K_SIM,D_PROJ[,FINAL]` as IndexSpec fields, checked by FDEConfig's own rules."""
    from paperscope.index.fde import FDEConfig

    try:
        values = [int(v) for v in text.split(",")]
        if len(values) not in (3, 4):
            raise ValueError("give three or four integers")
        shape = {"fde_r_reps": values[0], "fde_k_sim": values[1], "fde_d_proj": values[2],
                 "fde_final_dim": values[3] if len(values) == 4 else None}
        FDEConfig(dim=1, r_reps=values[0], k_sim=values[1], d_proj=values[2],
                  final_dim=shape["fde_final_dim"])
    except ValueError as exc:
        raise typer.BadParameter(f"{text!r}: {exc}", param_hint="--fde") from exc
    return shape


def _check_shape(settings: Any, shape: dict[str, Any], rebuild: bool) -> None:
    """Vectors of two FDE shapes cannot share one index: a changed shape needs --rebuild."""
    from paperscope.index.indexset import IndexLayout, Manifest

    existing = Manifest.read(IndexLayout(settings.index_dir).manifest)
    if existing is None or rebuild:
        return
    changed = sorted(k for k, v in shape.items() if getattr(existing.spec, k) != v)
    if changed:
        built = ", ".join(f"{k}={getattr(existing.spec, k)}" for k in changed)
        raise typer.BadParameter(f"the index was built with {built}; add --rebuild to rebuild it from the "
                                 "stored embeddings with another --fde")


def _sync(engine: Any, settings: Any, model: Any, rebuild: bool, shape: dict[str, Any]) -> None:
    """Bring the index files up to date from the store, with progress."""
    from paperscope.index.sync import IndexSync
    from paperscope.store.embeddings import count_embeddings

    total = count_embeddings(engine, model.id)
    start = time.monotonic()
    with Reporter("vector index", total if rebuild else None, "papers") as reporter:
        def progress(done: int, _total: int) -> None:
            reporter.update(done, rate=f"{done / max(time.monotonic() - start, 1e-9):,.0f} papers/s")

        report = IndexSync(engine, settings.index_dir).run(model, rebuild=rebuild, shape=shape or None,
                                                           on_progress=progress)
    if report.rebuilt:
        console.print(f"vector index rebuilt from the store: {report.added:,} papers in "
                      f"{report.seconds:.1f}s ({report.reason})", highlight=False)
    elif report.added:
        console.print(f"vector index: {report.added:,} papers added from the store in {report.seconds:.1f}s",
                      highlight=False)


def _embed_on_ray(engine: Any, settings: Any, model: Any, address: str | None, cpus: int | None,
                  todo: int) -> Any:
    """The embedding step as a Ray job, with one progress bar; returns the model with its codec."""
    from paperscope.index.ray_embed import embed_with_ray

    where = f"the Ray cluster at {address}" if address else f"a local Ray ({cpus or 'all'} cores)"
    console.print(f"embedding {todo:,} papers on {where}...", highlight=False)
    start = time.monotonic()
    with Reporter("embed (Ray)", todo, "papers") as reporter:
        reporter.update(0, note="(newest first)")

        def progress(done: int, _total: int) -> None:
            rate = done / max(time.monotonic() - start, 1e-9)
            reporter.update(done, rate=f"{rate:,.1f} papers/s")

        report, model = embed_with_ray(engine, settings, model, address=address, cpus=cpus, limit=todo,
                                       on_progress=progress)
    console.print(f"embedded {report.done:,} papers on Ray ({report.workers} workers, {report.cpus:g} CPUs) "
                  f"in {report.seconds:.1f}s ({report.rate:,.1f} papers/s), {report.added:,} new",
                  highlight=False)
    return model


def index(
    ctx: typer.Context,
    rebuild: Annotated[bool, typer.Option(
        help="Rebuild every index file (BM25, vectors) from the store, without the model.")] = False,
    reencode: Annotated[bool, typer.Option(
        help="Drop the stored embeddings and encode every paper again (after a model change).")] = False,
    limit: Annotated[int | None, typer.Option(min=0, help="Encode at most this many more papers.")] = None,
    lexical_only: Annotated[bool, typer.Option(
        help="Only bring the BM25 index up to date (seconds; no model needed).")] = False,
    token_pool_factor: Annotated[int | None, typer.Option(
        min=1, help="Keep one token vector per N tokens for the exact re-rank (default 2: half the storage "
        "and re-rank time; 1 keeps every token). Part of the stored embeddings: changing it needs "
        "--reencode.",
    )] = None,
    fde: Annotated[str | None, typer.Option(
        metavar="R,K_SIM,D_PROJ[,FINAL]",
        help="MUVERA FDE shape of a new or rebuilt index: repetitions, SimHash bits, projected dims and an "
        "optional Count-Sketch size (default 32,3,8: 2,048 int8 dims; the paper's is 20,5,16).",
    )] = None,
    ray: Annotated[bool, typer.Option(
        "--ray", help="Encode as a Ray job: one encoder per core on a local Ray started here, or on the "
        "cluster --ray-address names (needs `pip install 'paperscope\\[ray]'`).")] = False,
    ray_address: Annotated[str | None, typer.Option(
        metavar="ADDRESS", help="Join this Ray cluster (host:port of `ray start --head`, or `auto`); "
        "implies --ray. Needs a PostgreSQL store every node can reach.")] = None,
    ray_cpus: Annotated[int | None, typer.Option(
        min=1, help="Cores of the local Ray --ray starts (default: all of this machine's).")] = None,
) -> None:
    """Encode papers that have no stored embedding, then bring the search indexes up to date from the
    store (resumable; safe to kill)."""
    from paperscope.embed import encoder_identity, load_encoder
    from paperscope.index.build import build_lexical
    from paperscope.index.embedder import Embedder, ModelMismatch, current_model, resolve_model
    from paperscope.index.legacy import import_legacy_index
    from paperscope.store import count_papers
    from paperscope.store.embed_lock import EmbedderLock
    from paperscope.store.embeddings import count_unembedded

    settings = settings_from(ctx)
    shape: dict[str, Any] = {} if fde is None else _fde_shape(fde)
    use_ray = ray or ray_address is not None
    with friendly_errors():
        if use_ray:
            from paperscope.index.ray_embed import check_store_for_ray, import_ray

            check_store_for_ray(settings.db_url, ray_address)
            import_ray()
        engine = open_store(settings)
        _check_shape(settings, shape, rebuild)
        lexical_dir = settings.index_dir / "lexical"
        if rebuild and lexical_dir.exists():
            shutil.rmtree(lexical_dir)
        # It takes seconds on a big store: say so before it starts, not only when it is done.
        console.print("BM25 index: bringing it up to date…", highlight=False)
        start = time.monotonic()
        added = build_lexical(engine, settings.index_dir)
        console.print(f"BM25 index: {added:,} papers added in {time.monotonic() - start:.1f}s"
                      if added else "BM25 index: up to date", highlight=False)
        if lexical_only:
            return
        identity = encoder_identity(settings)
        imported = import_legacy_index(engine, settings.index_dir, identity)
        if imported:
            console.print(f"moved {imported:,} papers' vectors from the old index folder into the store "
                          "(nothing re-encoded)", highlight=False)
        model = current_model(engine, identity)
        if rebuild and not reencode:
            if model is None or model.codec is None:
                raise ValueError("the store holds no embeddings for this model yet: run `paperscope index` "
                                 "to encode the papers")
            if token_pool_factor is not None and token_pool_factor != model.spec.get("token_pool_factor"):
                raise ValueError("--token-pool-factor changes what the encoder stored: add --reencode")
            _sync(engine, settings, model, True, shape)
            left = count_unembedded(engine, model.id)
            if left:
                console.print(f"{left:,} papers have no embedding yet: `paperscope index` encodes them",
                              highlight=False)
            return
        lock = EmbedderLock(engine)
        if not lock.acquire():
            raise ValueError("another process is embedding this store (a `paperscope serve` with its "
                             "background embedder, or another `paperscope index`); it will cover every "
                             "paper — or stop it and run this again")
        with lock:
            try:
                if reencode or model is None or token_pool_factor is not None:
                    encoder = load_encoder(settings)
                    model = resolve_model(engine, identity, encoder.dim, pool_factor=token_pool_factor,
                                          reencode=reencode)
                else:
                    encoder = None
            except ModelMismatch as exc:
                raise ValueError(str(exc)) from None
            pending = count_unembedded(engine, model.id)
            todo = pending if limit is None else min(pending, limit)
            if pending and not todo:
                console.print(f"nothing indexed (--limit {limit}); {pending:,} papers wait to be indexed",
                              highlight=False)
                return
            if todo and use_ray:
                # Dropped, not passed: the job loads one only to fit a missing codec, and frees it before
                # the workers start (an encoder that has run holds ~1 GB of buffers).
                encoder = None
                model = _embed_on_ray(engine, settings, model, ray_address, ray_cpus, todo)
            elif todo:
                if encoder is None:
                    console.print("loading the encoder...", highlight=False)
                    encoder = load_encoder(settings)
                start = time.monotonic()
                with Reporter("embed", todo, "papers") as reporter:
                    reporter.update(0, note="(newest first)")

                    def progress(done: int) -> None:
                        rate = done / max(time.monotonic() - start, 1e-9)
                        reporter.update(done, rate=f"{rate:,.1f} papers/s")

                    embedder = Embedder(engine, encoder, model)
                    report = embedder.run(limit=todo, on_progress=progress)
                    model = embedder.model  # with the codec the first batch fitted
                console.print(f"embedded {report.added:,} papers in {report.seconds:.1f}s "
                              f"({report.rate:,.1f} papers/s)", highlight=False)
        _sync(engine, settings, model, reencode, shape)
        left = count_unembedded(engine, model.id)
        if left:
            console.print(f"{left:,} of {count_papers(engine):,} papers still have no embedding "
                          "(run `paperscope index` again)", highlight=False)
        else:
            console.print(f"index is up to date: {count_papers(engine):,} papers", highlight=False)


def register(app: typer.Typer) -> None:
    """Add `index` to the root command."""
    app.command("index")(index)
