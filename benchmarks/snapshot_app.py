"""What benchmarks of the served app start from: a SQLite store of the shared arXiv snapshot's first
papers in a work folder (kept and reused across runs), and the real app serving it on 127.0.0.1.

The caller puts the repository root on sys.path first (for tests.support), as the benchmarks do.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from tests.support.web_data import live_server

from paperscope.settings import Settings
from paperscope.sources.jsonl import JsonlSource
from paperscope.store import count_papers, ingest_records, open_database
from paperscope.web.app import create_app
from paperscope.web.app_state import app_state

ARXIV = Path(__file__).resolve().parents[2] / "shared" / "data" / "arxiv-2025-2026.jsonl.gz"


def snapshot_store(workdir: Path, papers: int) -> tuple[Settings, sa.Engine]:
    """Settings for a store under `workdir` and an engine on it, holding at least the snapshot's first
    `papers` papers (ingested on the first run only). The caller disposes of the engine."""
    settings = Settings(home=workdir / "home", database_url=f"sqlite:///{workdir / 'p.db'}")
    settings.ensure_home()
    engine = open_database(settings.db_url)
    if count_papers(engine) < papers:
        ingest_records(engine, JsonlSource(ARXIV, limit=papers))
    return settings, engine


@contextmanager
def served_app(settings: Settings) -> Iterator[str]:
    """The real app on `settings`, response cache off, served by uvicorn on 127.0.0.1: its base URL.
    The app's store is closed when the block ends."""
    app = create_app(settings, cache_seconds=0)
    try:
        with live_server(app) as url:
            yield url
    finally:
        app_state(app).engine.dispose()
