"""`paperscope search` and `paperscope eval beir`."""

from __future__ import annotations

import shutil
import tempfile
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import orjson
import typer
from rich.table import Table

from paperscope.cli.common import Reporter, console, friendly_errors, open_store, out, settings_from

# paperscope.search loads numpy, onnxruntime and usearch: only the commands that search import it.
if TYPE_CHECKING:
    from paperscope.index.profiles import Fusion
    from paperscope.search.types import Mode

eval_app = typer.Typer(no_args_is_help=True, help="Measure search quality.")


def _mode(value: str) -> Mode:
    from paperscope.search.types import MODES

    if value not in MODES:
        raise typer.BadParameter(f"choose one of {', '.join(MODES)}")
    return value


def _fusion(value: str) -> Fusion:
    """Hybrid's fusion chosen on the command line (the rest of the settings: the model's profile)."""
    if value not in ("rrf", "zscore"):
        raise typer.BadParameter("choose rrf or zscore", param_hint="--fusion")
    return "zscore" if value == "zscore" else "rrf"


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
        search_engine = SearchEngine(engine, settings, fusion=_fusion(fusion))
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
            search_engine = SearchEngine(engine, settings, encoder=encoder, fusion=_fusion(fusion))
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
    """Add `search` and the `eval` group to the root command."""
    app.command("search")(search_command)
    app.add_typer(eval_app, name="eval")
