"""`paperscope index`, `paperscope search` and `paperscope eval beir`."""

from __future__ import annotations

import shutil
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import orjson
import typer
from rich.table import Table

from paperscope.cli.common import Reporter, console, friendly_errors, open_store, out, settings_from

# paperscope.search loads numpy, onnxruntime and usearch: only the commands that search import it.
if TYPE_CHECKING:
    from paperscope.search import SearchConfig
    from paperscope.search.types import Mode

eval_app = typer.Typer(no_args_is_help=True, help="Measure search quality.")


def _mode(value: str) -> Mode:
    from paperscope.search.types import MODES

    if value not in MODES:
        raise typer.BadParameter(f"choose one of {', '.join(MODES)}")
    return value


def _config(fusion: str) -> SearchConfig:
    """The default search settings with hybrid's fusion chosen on the command line."""
    from paperscope.search import SearchConfig

    if fusion not in ("rrf", "zscore"):
        raise typer.BadParameter("choose rrf or zscore", param_hint="--fusion")
    return SearchConfig(fusion="zscore" if fusion == "zscore" else "rrf")


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


def index(
    ctx: typer.Context,
    rebuild: Annotated[bool, typer.Option(help="Delete the indexes, rebuild from the store.")] = False,
    limit: Annotated[int | None, typer.Option(help="Index at most this many more papers.")] = None,
    lexical_only: Annotated[bool, typer.Option(
        help="Only bring the BM25 index up to date (seconds; no model needed).")] = False,
    token_pool_factor: Annotated[int | None, typer.Option(
        min=1, help="Keep one token vector per N tokens for the exact re-rank, in a new or rebuilt index "
        "(default 2: half the storage and re-rank time; 1 keeps every token, a little better in late mode).",
    )] = None,
    fde: Annotated[str | None, typer.Option(
        metavar="R,K_SIM,D_PROJ[,FINAL]",
        help="MUVERA FDE shape of a new or rebuilt index: repetitions, SimHash bits, projected dims and an "
        "optional Count-Sketch size (default 32,3,8: 2,048 int8 dims; the paper's is 20,5,16).",
    )] = None,
) -> None:
    """Embed every paper not yet indexed and add it to the search indexes (resumable)."""
    from paperscope.embed import load_encoder
    from paperscope.index.build import (
        IndexLayout,
        IndexSpec,
        Manifest,
        build_index,
        build_lexical,
        pending_papers,
    )
    from paperscope.store import count_papers

    settings = settings_from(ctx)
    with friendly_errors():
        engine = open_store(settings)
        root = settings.index_dir
        existing = Manifest.read(IndexLayout(root).manifest)
        requested: dict[str, Any] = {} if fde is None else _fde_shape(fde)
        if token_pool_factor is not None:
            requested["token_pool_factor"] = token_pool_factor
        if existing is not None and not rebuild:
            # Vectors of two shapes cannot share one index.
            changed = sorted(k for k, v in requested.items() if getattr(existing.spec, k) != v)
            if changed:
                built = ", ".join(f"{k}={getattr(existing.spec, k)}" for k in changed)
                raise typer.BadParameter(f"the index was built with {built}; add --rebuild to re-index "
                                         "with another --token-pool-factor or --fde")
        if not rebuild:
            # The BM25 index is cheap and serves bm25 mode and similar papers before any vector exists.
            # It takes seconds on a big store: say so before it starts, not only when it is done.
            console.print("BM25 index: bringing it up to date…", highlight=False)
            start = time.monotonic()
            added = build_lexical(engine, root)
            console.print(f"BM25 index: {added} papers added in {time.monotonic() - start:.1f}s"
                          if added else "BM25 index: up to date", highlight=False)
            if lexical_only:
                return
        pending = count_papers(engine) if rebuild else pending_papers(engine, root)
        todo = pending if limit is None else min(pending, limit)
        if todo == 0:
            console.print("index is up to date" if pending == 0 else
                          f"nothing indexed (--limit {limit}); {pending:,} papers wait to be indexed",
                          highlight=False)
            return
        console.print(f"index: {todo:,} papers to embed; loading the model…", highlight=False)
        encoder = load_encoder(settings)
        spec = IndexSpec(model=encoder.name, dim=encoder.dim, **requested) if requested else None
        start = time.monotonic()
        with Reporter("index", todo, "papers") as reporter:
            reporter.update(0, note="embedding the first batch…")  # a line from the first second

            def progress(done: int, _total: int) -> None:
                rate = done / max(time.monotonic() - start, 1e-9)
                reporter.update(done, rate=f"{rate:,.1f} papers/s")

            report = build_index(engine, root, encoder, rebuild=rebuild, spec=spec, limit=limit,
                                 on_progress=progress)
        console.print(f"indexed {report.added} papers in {report.seconds:.1f}s ({report.rate:,.1f} papers/s)",
                      highlight=False)


def search_command(
    ctx: typer.Context,
    query: Annotated[str, typer.Argument(help="What to look for, in plain words.")],
    k: Annotated[int, typer.Option("-k", "--k", help="How many results.")] = 10,
    mode: Annotated[str, typer.Option(help="bm25 | dense | late | hybrid")] = "hybrid",
    fusion: Annotated[str, typer.Option(
        help="How hybrid combines its lists: rrf (ranks) | zscore (standardised scores).")] = "rrf",
    category: Annotated[list[str] | None, typer.Option(help="Only these categories (repeatable).")] = None,
    date_from: Annotated[str | None, typer.Option("--from", help="Listed on or after YYYY-MM-DD.")] = None,
    date_to: Annotated[str | None, typer.Option("--to", help="Listed on or before YYYY-MM-DD.")] = None,
    author: Annotated[str | None, typer.Option(help="Author name contains this.")] = None,
    threshold: Annotated[float | None, typer.Option(
        help="Drop results whose calibrated relevance (0-1) is below this.")] = None,
    diverse: Annotated[bool, typer.Option(help="Re-rank the top results for diversity (DPP).")] = False,
    theta: Annotated[float, typer.Option(
        min=0.0, max=1.0, help="With --diverse: 1 = relevance only, lower = more diverse.")] = 0.7,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Search the papers in the store."""
    from paperscope.search import SearchEngine
    from paperscope.search.dpp import search_diverse
    from paperscope.search.types import SearchFilters
    from paperscope.store import get_papers_by_rowid

    settings = settings_from(ctx)
    with friendly_errors():
        filters = SearchFilters(categories=tuple(category or ()),
                                date_from=date.fromisoformat(date_from) if date_from else None,
                                date_to=date.fromisoformat(date_to) if date_to else None, author=author)
        engine = open_store(settings)
        search_engine = SearchEngine(engine, settings, config=_config(fusion))
        if diverse:
            result = search_diverse(search_engine, query, mode=_mode(mode), k=k, filters=filters,
                                    threshold=threshold, theta=theta)
        else:
            result = search_engine.search(query, mode=_mode(mode), k=k, filters=filters, threshold=threshold)
    papers = {p.rowid: p for p in get_papers_by_rowid(engine, [h.rowid for h in result.hits])}
    if as_json:
        out.print_json(orjson.dumps({
            "query": result.query, "mode": result.mode, "total": result.total, "notes": result.notes,
            "no_good_answer": result.no_good_answer, "timings_ms": result.timings_ms,
            "hits": [{"paper_id": h.paper_id, "title": papers[h.rowid].title, "score": h.score,
                      "components": h.components, "matched_terms": list(h.matched_terms),
                      "listed": papers[h.rowid].listed, "categories": list(papers[h.rowid].categories)}
                     for h in result.hits if h.rowid in papers]}).decode())
        return
    for note in result.notes:
        console.print(f"[yellow]note:[/yellow] {note}", highlight=False)
    if result.no_good_answer:
        out.print("no good answer: nothing passed the relevance threshold")
        return
    if not result.hits:
        out.print("no results")
        return
    for n, h in enumerate(result.hits, start=1):
        p = papers.get(h.rowid)
        if p is None:
            continue
        listed = p.listed.isoformat() if p.listed else ""
        out.print(f"{n:>3}. [bold]{p.title}[/bold]", highlight=False)
        out.print(f"     {h.paper_id}  {p.primary_category or ''}  {listed}  score {h.score:.4f}",
                  highlight=False)
    console.print(f"{result.mode}: {result.timings_ms.get('total', 0):.1f} ms", highlight=False)


@eval_app.command("beir")
def eval_beir(
    ctx: typer.Context,
    directory: Annotated[Path, typer.Argument(help="BEIR folder: corpus.jsonl, queries.jsonl, qrels/.")],
    split: Annotated[str, typer.Option(help="qrels split to evaluate.")] = "test",
    mode: Annotated[list[str] | None, typer.Option(help="Mode (repeatable); default: all.")] = None,
    fusion: Annotated[str, typer.Option(
        help="How hybrid combines its lists: rrf (ranks) | zscore (standardised scores).")] = "rrf",
    workdir: Annotated[Path | None, typer.Option(
        help="Keep the store and indexes here, reused next run (default: a temp folder).")] = None,
) -> None:
    """nDCG@10, Recall@100, MRR@10 and query latency p50/p99 per mode on a BEIR dataset."""
    from paperscope.embed import load_encoder
    from paperscope.index.build import build_index
    from paperscope.search import SearchEngine
    from paperscope.search.beir import evaluate, load_beir, load_corpus
    from paperscope.search.types import MODES
    from paperscope.settings import Settings

    modes = [_mode(m) for m in (mode or list(MODES))]
    base = settings_from(ctx)
    home = workdir or Path(tempfile.mkdtemp(prefix="paperscope-beir-"))
    try:
        with friendly_errors():
            dataset = load_beir(directory, split)
            settings = Settings(home=home, database_url="", model=base.model)
            engine = open_store(settings)
            console.print(f"{len(dataset.corpus)} documents, {len(dataset.queries)} {split} queries",
                          highlight=False)
            load_corpus(engine, dataset)
            encoder = None
            if any(m != "bm25" for m in modes):
                encoder = load_encoder(settings)
                with Reporter("index", len(dataset.corpus), "docs") as reporter:
                    build_index(engine, settings.index_dir, encoder,
                                on_progress=lambda done, _total: reporter.update(done))
            search_engine = SearchEngine(engine, settings, encoder=encoder, config=_config(fusion))
            reports = evaluate(search_engine, dataset, modes,
                               on_progress=lambda m: console.print(f"evaluating {m}...", highlight=False))
    finally:
        if workdir is None:
            shutil.rmtree(home, ignore_errors=True)
    table = Table(title=f"{directory.name} ({split}, {len(dataset.queries)} queries)")
    for col in ("mode", "nDCG@10", "Recall@100", "MRR@10", "p50 ms", "p99 ms", "p50 ms excl. encoding"):
        table.add_column(col, justify="right" if col != "mode" else "left")
    for r in reports:
        table.add_row(r.mode, f"{r.ndcg10:.4f}", f"{r.recall100:.4f}", f"{r.mrr10:.4f}", f"{r.p(50):.1f}",
                      f"{r.p(99):.1f}", f"{r.p(50, with_encoding=False):.1f}")
    out.print(table)


def register(app: typer.Typer) -> None:
    """Add `index`, `search` and the `eval` group to the root command."""
    app.command("index")(index)
    app.command("search")(search_command)
    app.add_typer(eval_app, name="eval")
