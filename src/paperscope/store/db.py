"""Engines and migrations: open a database by URL and bring its schema to the newest revision."""

from __future__ import annotations

import contextlib
import functools
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from paperscope.store.fulltext_build import recover_fulltext

if TYPE_CHECKING:
    from alembic.config import Config

# Alembic is imported only when a schema has to change: loading it cost every command and server
# process ~0.1 s of CPU at start, and a current schema is told from a plain query.
_MIGRATIONS = Path(__file__).parent / "migrations"
_REVISION = re.compile(r"^(down_revision|revision)\s*(?::[^=]*)?=\s*(?:[\"']([^\"']*)[\"']|None)", re.M)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    # WAL lets the web app read while an ingest writes; NORMAL is durable at transaction boundaries in WAL.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def _create_private(path: Path) -> None:
    """Make a missing SQLite file (and its folder) readable by this user only: it holds emails and
    password hashes. SQLite gives the -wal and -shm files the database file's mode."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))  # an empty file is an empty db


def create_engine(url: str) -> sa.Engine:
    """An Engine for `url` (sqlite:///path or postgresql+psycopg://...), with SQLite tuned for one writer."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:" and not path.startswith("file:"):
            _create_private(Path(path))
        engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return sa.create_engine(url, pool_pre_ping=True)


def _alembic_config() -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    return cfg


def current_revision(engine: sa.Engine) -> str | None:
    """The schema revision the database is at (None for an empty database)."""
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table("alembic_version"):
            return None
        versions = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars().all()
    if len(versions) > 1:  # branches: alembic says what that means
        from alembic.runtime.migration import MigrationContext

        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    return versions[0] if versions else None


@functools.cache
def head_revision() -> str | None:
    """The newest schema revision this version of paperscope knows: the one no migration names as its
    `down_revision`. Read once per process, from the scripts' text (a test checks it against alembic's
    own reading, which loads every script)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for script in (_MIGRATIONS / "versions").glob("*.py"):
        fields = dict(_REVISION.findall(script.read_text()))
        if fields.get("revision"):
            revisions.add(fields["revision"])
            if fields.get("down_revision"):
                parents.add(fields["down_revision"])
    heads = revisions - parents
    if len(heads) == 1:
        return heads.pop()
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_alembic_config()).get_current_head()


def upgrade(engine: sa.Engine) -> None:
    """Apply every pending migration (a no-op when the schema is current)."""
    if current_revision(engine) == head_revision():
        return
    from alembic import command

    cfg = _alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def open_database(url: str) -> sa.Engine:
    """Create an engine for `url`, migrate it to the newest schema, and repair the full-text index if a
    first load died before finishing it."""
    engine = create_engine(url)
    upgrade(engine)
    recover_fulltext(engine)
    return engine
