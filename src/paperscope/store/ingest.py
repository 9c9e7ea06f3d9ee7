"""Feed a source's stream of papers (and skipped records) into the store, batch by batch."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import sqlalchemy as sa

from paperscope.model import Paper, Skipped
from paperscope.store.fulltext_build import SideFulltextBuild
from paperscope.store.papers import PreparedBatch, UpsertCounts, prepare_batch, write_batch

# Errors a value in one record can cause (PostgreSQL bulk inserts go through psycopg's COPY, so its
# own classes appear unwrapped); anything else (a lost connection, a locked or full disk) stops the run.
_RECORD_ERRORS: tuple[type[BaseException], ...] = (
    sa.exc.DataError, sa.exc.IntegrityError, sqlite3.DataError, sqlite3.IntegrityError, OverflowError,
    ValueError)
with contextlib.suppress(ImportError):
    import psycopg

    _RECORD_ERRORS += (psycopg.DataError, psycopg.IntegrityError)


def _is_record_error(exc: BaseException) -> bool:
    if isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError):
        return False
    return isinstance(exc, _RECORD_ERRORS) or (
        isinstance(exc, sa.exc.StatementError) and isinstance(exc.orig, _RECORD_ERRORS))


def _write_or_split(engine: sa.Engine, prepared: PreparedBatch, papers: list[Paper],
                    fulltext: SideFulltextBuild | None) -> tuple[UpsertCounts, list[Skipped]]:
    """Write a batch; if a value in it is refused (sources check records, but a store may still say
    no), write its papers one by one and skip the ones refused, each with the store's reason."""
    try:
        return write_batch(engine, prepared, fulltext), []
    except Exception as exc:  # noqa: BLE001 - sorted by _is_record_error; the rest re-raised
        if not _is_record_error(exc):
            raise
    counts, skipped = UpsertCounts(), []
    for paper in papers:
        try:
            counts.add(write_batch(engine, prepare_batch(engine, [paper]), fulltext))
        except Exception as exc:  # noqa: BLE001 - as above
            if not _is_record_error(exc):
                raise
            reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
            skipped.append(Skipped(paper.paper_id, f"refused by the store: {reason}"))
    return counts, skipped


@dataclass
class IngestReport:
    """The summary of one ingest run."""

    counts: UpsertCounts = field(default_factory=UpsertCounts)
    skipped: list[Skipped] = field(default_factory=list)

    @property
    def read(self) -> int:
        c = self.counts
        return c.inserted + c.updated + c.unchanged

    def summary(self) -> str:
        c = self.counts
        return (f"{self.read} papers read: {c.inserted} new, {c.updated} updated, {c.unchanged} unchanged; "
                f"{len(self.skipped)} skipped")


def ingest_records(
    engine: sa.Engine,
    records: Iterable[Paper | Skipped],
    *,
    batch_size: int = 2000,
    on_batch: Callable[[IngestReport, int], None] | None = None,
    on_skip: Callable[[Skipped], None] | None = None,
    bulk: bool = False,
) -> IngestReport:
    """Upsert every Paper in `records`; collect every Skipped. Each batch is one transaction, so a
    killed run leaves only whole batches behind and re-running it converges to the same store.

    Batches are written in order by one background thread while this one reads and prepares the
    next batch: the database works with the GIL released, so reading overlaps writing. Every
    batch is committed before this returns.

    `bulk=True` is for loads that run flat out from a file: on an empty SQLite store the full-text
    index is then built on a third thread and moved in at the end (store/fulltext_build.py). Slow
    sources (network harvests) leave it off, so their papers are searchable as they arrive.
    """
    report = IngestReport()
    fulltext = SideFulltextBuild.begin(engine) if bulk else None
    buf: list[Paper] = []
    pending: Future[tuple[UpsertCounts, list[Skipped]]] | None = None
    pending_size = 0

    def finish_pending() -> None:
        nonlocal pending
        if pending is None:
            return
        done, pending = pending, None
        counts, refused = done.result()
        report.counts.add(counts)
        for rec in refused:
            report.skipped.append(rec)
            if on_skip:
                on_skip(rec)
        if on_batch:
            on_batch(report, pending_size)

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="paperscope-ingest") as writer:
        def flush() -> None:
            nonlocal pending, pending_size
            prepared = prepare_batch(engine, buf)
            finish_pending()  # batches commit in order, one at a time
            pending = writer.submit(_write_or_split, engine, prepared, list(buf), fulltext)
            pending_size = len(buf)
            buf.clear()

        try:
            for rec in records:
                if isinstance(rec, Skipped):
                    report.skipped.append(rec)
                    if on_skip:
                        on_skip(rec)
                    continue
                buf.append(rec)
                if len(buf) >= batch_size:
                    flush()
            if buf:
                flush()
        finally:
            # Even when reading fails, what was read is stored (and indexed) before the error goes up.
            try:
                finish_pending()
            finally:
                if fulltext is not None:
                    fulltext.finish()
    return report
