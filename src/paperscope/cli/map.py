"""`paperscope map`: lay out every indexed paper in 2-D and store the map of the field the web page draws."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from paperscope.cli.common import console, friendly_errors, open_store, out, settings_from


def map_command(
    ctx: typer.Context,
    method: Annotated[str, typer.Option(help="auto (t-SNE when openTSNE is installed and there are 200+ "
                                             "papers, else PCA), tsne or pca.")] = "auto",
    regions: Annotated[int, typer.Option(min=0, help="Labelled regions (0 = about sqrt(papers), at most "
                                                     "40).")] = 0,
    threads: Annotated[int, typer.Option(min=1, help="Threads for the t-SNE.")] = 2,
) -> None:
    """Compute the map of the field from the search index's pooled vectors (run after `paperscope index`);
    written atomically under home/map, served at /map."""
    from paperscope.feed.field_map import compute_map, map_path, save_map

    if method not in ("auto", "tsne", "pca"):
        raise typer.BadParameter("method must be auto, tsne or pca", param_hint="--method")
    settings = settings_from(ctx)
    started = time.perf_counter()
    with friendly_errors():
        engine = open_store(settings)
        fmap = compute_map(engine, settings.index_dir, method=method,  # type: ignore[arg-type]
                           regions=regions or None, threads=threads,
                           on_step=lambda msg: console.print(f"{time.perf_counter() - started:6.1f}s  {msg}"))
        if fmap.count == 0:
            raise ValueError("no indexed papers: run `paperscope index` first")
        path = map_path(settings.home)
        save_map(fmap, path)
    out.print(f"map of {fmap.count} papers ({fmap.method}, {len(fmap.regions)} regions) in "
              f"{fmap.seconds:.1f}s -> {path}")


def register(app: typer.Typer) -> None:
    app.command("map")(map_command)
