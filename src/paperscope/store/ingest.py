"""Feed a source's stream of papers (and skipped records) into the store, batch by batch."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import sqlalchemy as sa

from paperscope.model import Paper, Skipped
from paperscope.store.papers import UpsertCounts, upsert_papers


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
) -> IngestReport:
    """Upsert every Paper in `records`; collect every Skipped. Each batch is one transaction, so a
    killed run leaves only whole batches behind and re-running it converges to the same store."""
    report = IngestReport()
    buf: list[Paper] = []

    def flush() -> None:
        report.counts.add(upsert_papers(engine, buf))
        if on_batch:
            on_batch(report, len(buf))
        buf.clear()

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
    return report
