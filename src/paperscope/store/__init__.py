"""The store: the only code that speaks SQL. SQLite by default, PostgreSQL by URL."""

from paperscope.store.db import create_engine, open_database, upgrade
from paperscope.store.ingest import IngestReport, ingest_records
from paperscope.store.papers import (
    UpsertCounts,
    count_papers,
    get_paper,
    get_papers_by_rowid,
    iter_papers,
    latest_listed,
    upsert_papers,
)
from paperscope.store.state import clear_state, get_state, set_state
from paperscope.store.stats import StoreStats, store_stats

__all__ = [
    "IngestReport", "StoreStats", "UpsertCounts", "clear_state", "count_papers", "create_engine",
    "get_paper", "get_papers_by_rowid", "get_state", "ingest_records", "iter_papers", "latest_listed",
    "open_database", "set_state", "store_stats", "upgrade", "upsert_papers",
]
