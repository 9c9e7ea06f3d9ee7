"""Shared fixtures: every store-backed test runs on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from paperscope.settings import Settings
from paperscope.store import open_database
from tests.pg import PgServer, start_pg

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
ARXIV_JSONL = SHARED_DATA / "arxiv-2025-2026.jsonl.gz"
SCIFACT = SHARED_DATA / "scifact"


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """One PostgreSQL server for the session. Skips when none is installed, unless
    PAPERSCOPE_REQUIRE_PG=1 (`make test`, hence CI), where a missing server is a failure."""
    server = start_pg()
    if server is None:
        if os.environ.get("PAPERSCOPE_REQUIRE_PG") == "1":
            pytest.fail("PostgreSQL server binaries not found (apt-get install postgresql)")
        pytest.skip("PostgreSQL server not installed (apt-get install postgresql)")
    yield server
    server.stop()


def _new_pg_database(server: PgServer) -> tuple[str, sa.Engine]:
    name = "t_" + uuid.uuid4().hex[:12]
    admin = sa.create_engine(server.base_url + "/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    return f"{server.base_url}/{name}", admin


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database URL — once on SQLite, once on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'paperscope.db'}"
        return
    server: PgServer = request.getfixturevalue("pg_server")
    url, admin = _new_pg_database(server)
    yield url
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def engine(db_url: str) -> Iterator[sa.Engine]:
    """A migrated store on each backend."""
    eng = open_database(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    """Settings pointing at a temp home and the parametrised database."""
    return Settings(home=tmp_path / "home", database_url=db_url, request_interval=0.0)
