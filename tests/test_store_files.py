"""Files under the home hold emails, password hashes and the secret key: the home is created 0700 and
the SQLite database with its WAL and shared-memory files 0600, whatever the umask."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from paperscope.model import Paper
from paperscope.settings import Settings
from paperscope.store import ingest_records, open_database, upsert_papers


@pytest.fixture
def lax_umask() -> Iterator[None]:
    old = os.umask(0o022)  # the usual default, which makes 0644 files
    yield
    os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_home_and_database_files_are_private(tmp_path: Path, lax_umask: None) -> None:
    settings = Settings(home=tmp_path / "fresh" / "home")
    engine = open_database(settings.db_url)  # the CLI's first step: the home does not exist yet
    with engine.connect():  # a connection holds the WAL and -shm files open
        upsert_papers(engine, [Paper(title="Private", arxiv_id="2501.00001", source="test")])
        files = {p.name: mode(p) for p in settings.home.iterdir() if p.name.startswith("paperscope.db")}
    assert mode(settings.home) == 0o700
    assert {"paperscope.db", "paperscope.db-wal", "paperscope.db-shm"} <= set(files)
    assert set(files.values()) == {0o600}, files
    engine.dispose()
    settings.signing_key()
    assert mode(settings.home / "secret_key") == 0o600


def test_home_made_by_the_web_app_first_is_private(tmp_path: Path, lax_umask: None) -> None:
    settings = Settings(home=tmp_path / "web-home")
    settings.ensure_home()
    assert mode(settings.home) == 0o700


def test_first_load_scratch_file_is_private(tmp_path: Path, lax_umask: None) -> None:
    engine = open_database(f"sqlite:///{tmp_path / 'store.db'}")
    seen: list[int] = []
    scratch = tmp_path / "store.db.fts-build"
    ingest_records(engine, [Paper(title=f"Paper {n}", arxiv_id=f"2501.{n:05d}", source="test")
                            for n in range(1, 5)], batch_size=2, bulk=True,
                   on_batch=lambda *_: seen.append(mode(scratch)))
    assert seen and set(seen) == {0o600}
    engine.dispose()
