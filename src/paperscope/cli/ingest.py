"""`paperscope ingest ...` and `paperscope add`: every way papers get into the store."""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated

import sqlalchemy as sa
import typer

from paperscope.cli.common import Reporter, console, existing_file, friendly_errors, open_store, settings_from
from paperscope.model import Paper, Skipped
from paperscope.sources.jsonl import JsonlSource
from paperscope.store import IngestReport, ingest_records

app = typer.Typer(no_args_is_help=True, help="Bring papers into the store.")


def run_ingest(engine: sa.Engine, records: Iterable[Paper | Skipped], reporter: Reporter,
               position: object = None) -> IngestReport:
    """Ingest with progress and per-record problem reports; exit non-zero only if nothing was read."""
    start = time.monotonic()

    def on_batch(report: IngestReport, _n: int) -> None:
        done = getattr(position, "bytes_read", report.read)
        rate = report.read / max(time.monotonic() - start, 1e-9)
        reporter.update(done, rate=f"{rate:,.0f} papers/s", note=f"({report.read} papers)")

    def on_skip(s: Skipped) -> None:
        console.print(f"[yellow]skipped[/yellow] {s.where}: {s.reason}", highlight=False)

    with reporter:
        report = ingest_records(engine, records, on_batch=on_batch, on_skip=on_skip)
    elapsed = time.monotonic() - start
    console.print(f"{report.summary()} in {elapsed:.1f}s ({report.read / max(elapsed, 1e-9):,.0f} papers/s)",
                  highlight=False)
    if report.read == 0 and report.skipped:
        raise typer.Exit(1)
    return report


@app.command("jsonl")
def ingest_jsonl(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="JSONL or JSONL.gz file (Kaggle arXiv or compact format).")],
    limit: Annotated[int | None, typer.Option(help="Stop after this many papers.")] = None,
) -> None:
    """Load a bulk JSONL snapshot; re-running it never duplicates anything."""
    with friendly_errors():
        source = JsonlSource(existing_file(path), limit=limit)
        engine = open_store(settings_from(ctx))
        run_ingest(engine, source, Reporter(f"ingest {path.name}", source.total_bytes, "bytes"), source)


def register(root: typer.Typer) -> None:
    """Top-level commands defined here (besides the `ingest` group)."""
    del root
