"""`paperscope ingest citations`: cited-by counts and references from OpenAlex, resumable."""

from __future__ import annotations

from typing import Annotated

import typer

from paperscope.cli.common import Reporter, console, friendly_errors, open_store, settings_from
from paperscope.sources.http import SourceError


def ingest_citations(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(min=0, help="Stop after this many papers (0 = all).")] = 0,
    restart: Annotated[bool, typer.Option(help="Start again from the first paper (refreshes counts).")]
    = False,
) -> None:
    """Look up every arXiv paper in OpenAlex (50 per request, spaced by PAPERSCOPE_REQUEST_INTERVAL):
    cited-by counts and references. Resumes where a killed run stopped; --restart refreshes all."""
    from paperscope.cli.ingest import polite_client
    from paperscope.sources.openalex import BATCH, OpenAlex
    from paperscope.store.citations import JOB, WorkCitations, arxiv_papers_after, save_citations
    from paperscope.store.state import clear_state, get_state, set_state

    settings = settings_from(ctx)
    with friendly_errors():
        engine = open_store(settings)
        if restart:
            clear_state(engine, JOB)
        last = int((get_state(engine, JOB) or {}).get("last_rowid", 0))
        done = found = 0
        reporter = Reporter("OpenAlex citations", limit or None, "papers")
        with polite_client(settings) as client, reporter as rep:
            source = OpenAlex(client, settings.openalex_url, settings.openalex_mailto)
            while not limit or done < limit:
                batch = arxiv_papers_after(engine, last, min(BATCH, limit - done) if limit else BATCH)
                if not batch:
                    break
                try:
                    works = source.works([arxiv_id for _, arxiv_id in batch])
                except SourceError as exc:
                    console.print(f"[red]error:[/red] {exc} (re-run to resume after paper row {last})")
                    raise typer.Exit(1) from None
                rowid_of = {arxiv_id: rowid for rowid, arxiv_id in batch}
                found += save_citations(engine, [
                    WorkCitations(rowid_of[w.arxiv_id], w.openalex_id, w.cited_by_count, w.references)
                    for w in works])
                last = batch[-1][0]
                set_state(engine, JOB, {"last_rowid": last})  # after the batch is stored: a kill resumes here
                done += len(batch)
                rep.update(done, note=f"{found} found")
        console.print(f"{done} papers looked up, {found} found in OpenAlex")
