"""`paperscope similar ID [ID ...]`: papers similar to one paper or to a set."""

from __future__ import annotations

import contextlib
from typing import Annotated

import orjson
import typer

from paperscope.cli.common import console, friendly_errors, open_store, out, settings_from


def similar_command(
    ctx: typer.Context,
    ids: Annotated[list[str], typer.Argument(help="Paper id(s): arXiv id, abs/pdf URL or doi:...")],
    k: Annotated[int, typer.Option("-k", "--k", help="How many papers.")] = 10,
    diverse: Annotated[bool, typer.Option(help="Re-rank for diversity (DPP).")] = False,
    theta: Annotated[float, typer.Option(min=0.0, max=1.0,
                                         help="Relevance/diversity trade-off: 1 = relevance order.")] = 0.7,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Papers similar to the given paper(s): late interaction (MaxSim) fused with a lexical more-like-this."""
    from paperscope.feed.similar import SimilarPapers
    from paperscope.model import parse_arxiv_id
    from paperscope.search import SearchEngine
    from paperscope.store import get_paper, get_papers_by_rowid

    settings = settings_from(ctx)
    with friendly_errors():
        engine = open_store(settings)
        seeds = []
        for raw in ids:
            key = raw.strip()
            with contextlib.suppress(ValueError):
                key = parse_arxiv_id(key)[0]
            paper = get_paper(engine, key)
            if paper is None:
                raise ValueError(f"no paper {raw!r} in the store")
            seeds.append(paper)
        service = SimilarPapers(SearchEngine(engine, settings).retriever)
        result = service.similar(seeds, k=k, diverse=diverse, theta=theta)
    papers = {p.rowid: p for p in get_papers_by_rowid(engine, [h.rowid for h in result.hits])}
    if as_json:
        out.print_json(orjson.dumps({
            "seeds": result.seeds, "cached": result.cached, "diverse": result.diverse, "notes": result.notes,
            "papers": [{"paper_id": h.paper_id, "title": papers[h.rowid].title, "score": h.score,
                        "components": h.components} for h in result.hits if h.rowid in papers]}).decode())
        return
    for note in result.notes:
        console.print(f"[yellow]note:[/yellow] {note}", highlight=False)
    if not result.hits:
        out.print("no similar papers")
        return
    for n, h in enumerate(result.hits, start=1):
        p = papers.get(h.rowid)
        if p is None:
            continue
        out.print(f"{n:>3}. [bold]{p.title}[/bold]", highlight=False)
        out.print(f"     {h.paper_id}  {p.primary_category or ''}  {p.listed or ''}", highlight=False)


def register(app: typer.Typer) -> None:
    """Add `similar` to the root command."""
    app.command("similar")(similar_command)
