"""`paperscope ingest ...` and `paperscope add`: every way papers get into the store."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

import sqlalchemy as sa
import typer

from paperscope.cli.common import Reporter, console, existing_file, friendly_errors, open_store, settings_from
from paperscope.model import Paper, Skipped, parse_arxiv_id
from paperscope.settings import Settings
from paperscope.sources.arxiv_api import ArxivQuery
from paperscope.sources.arxiv_oai import OaiCheckpoint, OaiHarvester, state_name
from paperscope.sources.hf_daily import HfDaily
from paperscope.sources.http import PoliteClient, SourceError
from paperscope.sources.jsonl import JsonlSource
from paperscope.store import IngestReport, get_state, ingest_records, set_state

app = typer.Typer(no_args_is_help=True, help="Bring papers into the store.")

# With no checkpoint and no --from, a first harvest fetches this many recent days (a full set is huge).
FIRST_HARVEST_DAYS = 7


class _StopAtSourceError:
    """Pass records through; when the source fails, stop cleanly and keep the error, so the records
    read before the failure are still stored and the command can then report it and exit non-zero."""

    def __init__(self, records: Iterable[Paper | Skipped]) -> None:
        self.records = records
        self.error: SourceError | None = None

    def __iter__(self) -> Iterator[Paper | Skipped]:
        try:
            yield from self.records
        except SourceError as exc:
            self.error = exc


def _on_skip(s: Skipped) -> None:
    console.print(f"[yellow]skipped[/yellow] {s.where}: {s.reason}", highlight=False)


def _fail(exc: SourceError, hint: str = "") -> typer.Exit:
    console.print(f"[red]error:[/red] {exc}", highlight=False)
    if hint:
        console.print(hint, highlight=False)
    return typer.Exit(2)


def run_ingest(engine: sa.Engine, records: Iterable[Paper | Skipped], reporter: Reporter,
               position: object = None, batch_size: int = 2000, bulk: bool = False) -> IngestReport:
    """Ingest with progress and per-record problem reports (`bulk`: see ingest_records). Exit 2 when
    the source failed (after storing what it delivered), 1 when nothing could be read, else return
    the report."""
    start = time.monotonic()
    guarded = _StopAtSourceError(records)

    def on_batch(report: IngestReport, _n: int) -> None:
        done = getattr(position, "bytes_read", report.read)
        rate = report.read / max(time.monotonic() - start, 1e-9)
        reporter.update(done, rate=f"{rate:,.0f} papers/s", note=f"({report.read} papers)")

    with reporter:
        report = ingest_records(engine, guarded, batch_size=batch_size, on_batch=on_batch, on_skip=_on_skip,
                                bulk=bulk)
    elapsed = time.monotonic() - start
    console.print(f"{report.summary()} in {elapsed:.1f}s ({report.read / max(elapsed, 1e-9):,.0f} papers/s)",
                  highlight=False)
    if guarded.error is not None:
        raise _fail(guarded.error)
    if report.read == 0 and report.skipped:
        raise typer.Exit(1)
    return report


def _host(url: str) -> str:
    return urlsplit(url).netloc or url


def polite_client(settings: Settings) -> PoliteClient:
    """The HTTP client every network source uses, spaced by settings.request_interval."""
    def retrying(message: str) -> None:
        console.print(f"[yellow]network:[/yellow] {message}", highlight=False)

    return PoliteClient(interval=settings.request_interval, user_agent=settings.user_agent,
                        max_retries=3, backoff=max(settings.request_interval, 0.25), on_retry=retrying)


@app.command("jsonl")
def ingest_jsonl(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="JSONL or JSONL.gz file (Kaggle arXiv or compact format).")],
    limit: Annotated[int | None, typer.Option(help="Stop after this many papers.")] = None,
) -> None:
    """Load a bulk JSONL snapshot; re-running it never duplicates anything."""
    with friendly_errors():
        # Parsing in a second process overlaps the store's writes (JSON parsing is about a third of
        # the CPU of a first load).
        source = JsonlSource(existing_file(path), limit=limit, parallel=True)
        engine = open_store(settings_from(ctx))
        run_ingest(engine, source, Reporter(f"ingest {path.name}", source.total_bytes, "bytes"), source,
                   bulk=True)


def harvest_start(saved: OaiCheckpoint | None, set_spec: str, from_date: str | None,
                  until_date: str | None, today: date) -> OaiCheckpoint:
    """Where a harvest begins: an unfinished harvest of the same range resumes at its token;
    without --from, an incremental run continues from the last stored datestamp."""
    if saved is not None and not saved.complete:
        same_range = from_date is None or (saved.from_date, saved.until_date) == (from_date, until_date)
        if same_range:
            return saved
    if from_date is not None:
        return OaiCheckpoint(set_spec, from_date, until_date)
    if saved is not None and saved.datestamp:
        return OaiCheckpoint(set_spec, saved.datestamp, until_date)
    return OaiCheckpoint(set_spec, (today - timedelta(days=FIRST_HARVEST_DAYS)).isoformat(), until_date)


def _iso_day(value: str | None, flag: str) -> str | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise ValueError(f"{flag} should be a date like 2026-11-20, got {value!r}") from None


@app.command("arxiv")
def ingest_arxiv(
    ctx: typer.Context,
    set_spec: Annotated[str, typer.Option("--set", help="OAI set: cs, math, physics:hep-th, ...")] = "cs",
    from_date: Annotated[str | None, typer.Option("--from", help="First datestamp (YYYY-MM-DD); "
                                                  "default: continue from the last harvest.")] = None,
    until_date: Annotated[str | None, typer.Option("--until", help="Last datestamp (YYYY-MM-DD).")] = None,
) -> None:
    """Harvest an arXiv set over OAI-PMH (arXivRaw). Killed or failed runs resume where they stopped."""
    with friendly_errors():
        from_date = _iso_day(from_date, "--from")
        until_date = _iso_day(until_date, "--until")
        settings = settings_from(ctx)
        engine = open_store(settings)
    key = state_name(set_spec)
    start = harvest_start(OaiCheckpoint.from_json(get_state(engine, key)), set_spec, from_date, until_date,
                          datetime.now(UTC).date())
    if start.token:
        console.print(f"resuming the harvest of {set_spec} (from {start.from_date or 'the start'}) "
                      f"at a saved resumption token", highlight=False)
    else:
        console.print(f"harvesting {set_spec} from {start.from_date or 'the start'}"
                      f"{' until ' + start.until_date if start.until_date else ''}", highlight=False)
    # Saved first, so a run that fails before its first page is retried over the same range.
    set_state(engine, key, start.to_json())
    total = IngestReport()
    began = time.monotonic()
    with polite_client(settings) as client, Reporter(f"arXiv {set_spec}", None, "papers") as reporter:
        harvester = OaiHarvester(client, settings.arxiv_oai_url, start)
        try:
            for page in harvester.pages():
                report = ingest_records(engine, page.records, on_skip=_on_skip)
                total.counts.add(report.counts)
                total.skipped.extend(report.skipped)
                # Only now are the page's records stored: the checkpoint may move past them.
                set_state(engine, key, page.checkpoint.to_json())
                size = f" of ~{page.complete_list_size}" if page.complete_list_size else ""
                reporter.update(total.read, rate=f"page {page.number}", note=f"records{size}")
        except SourceError as exc:
            console.print(f"{total.summary()} before the failure", highlight=False)
            raise _fail(exc, f"progress is saved; run the same command again to resume ({key})") from None
    elapsed = time.monotonic() - began
    restarts = f", {harvester.restarts} restart(s) after an expired token" if harvester.restarts else ""
    console.print(f"{total.summary()} in {elapsed:.1f}s; {client.requests_made} requests{restarts}",
                  highlight=False)
    if total.read == 0 and total.skipped:
        raise typer.Exit(1)


@app.command("arxiv-query")
def ingest_arxiv_query(
    ctx: typer.Context,
    query: Annotated[str, typer.Argument(help="arXiv search_query, e.g. 'cat:cs.CL AND abs:retrieval'.")],
    max_results: Annotated[int, typer.Option("--max", min=1, help="At most this many papers.")] = 100,
) -> None:
    """Fetch the newest papers matching an arXiv API search."""
    with friendly_errors():
        settings = settings_from(ctx)
        engine = open_store(settings)
        with polite_client(settings) as client:
            source = ArxivQuery(client, settings.arxiv_api_url)
            run_ingest(engine, source.search(query, max_results),
                       Reporter(f"arXiv query {query!r}", max_results, "papers"))


@app.command("hf-daily")
def ingest_hf_daily(
    ctx: typer.Context,
    day: Annotated[str | None, typer.Option("--date", help="Daily page (YYYY-MM-DD); default today.")] = None,
    to: Annotated[str | None, typer.Option("--to", help="Last date of a range (inclusive).")] = None,
) -> None:
    """Fetch Hugging Face daily papers (with upvotes and submitter) for a date or a range of dates."""
    with friendly_errors():
        first = date.fromisoformat(_iso_day(day, "--date") or datetime.now(UTC).date().isoformat())
        last = date.fromisoformat(_iso_day(to, "--to") or first.isoformat())
        settings = settings_from(ctx)
        with polite_client(settings) as client:
            source = HfDaily(client, settings.hf_api_url, first, last)
            engine = open_store(settings)
            days = f"{first} to {last}" if last != first else str(first)
            console.print(f"fetching Hugging Face daily papers {days} from {_host(settings.hf_api_url)}…",
                          highlight=False)
            run_ingest(engine, source, Reporter("HF daily papers", None, "papers"))


def add(
    ctx: typer.Context,
    ids: Annotated[list[str], typer.Argument(help="arXiv ids or URLs (2405.19504, arxiv.org/abs/...).")],
) -> None:
    """Add papers by arXiv id or URL (fetched from the arXiv API; re-adding refreshes them)."""
    with friendly_errors():
        wanted = [parse_arxiv_id(i)[0] for i in ids]  # a bad id fails here, before any request
        settings = settings_from(ctx)
        engine = open_store(settings)
        with polite_client(settings) as client:
            source = ArxivQuery(client, settings.arxiv_api_url)
            console.print(f"fetching {len(wanted)} paper{'s' if len(wanted) != 1 else ''} from "
                          f"{_host(settings.arxiv_api_url)}…", highlight=False)
            run_ingest(engine, source.by_ids(wanted), Reporter("arXiv add", len(wanted), "papers"))


def register(root: typer.Typer) -> None:
    """Top-level commands defined here (besides the `ingest` group)."""
    root.command("add")(add)
