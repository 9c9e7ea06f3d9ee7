"""Caches that anonymous visitors fill stay bounded (over HTTP, against a real server): the page cache
keys only on parameters routes declare and keeps at most its configured entries, in memory and in the
folder workers share; the similar-papers folder keeps its newest lists only."""

from __future__ import annotations

import itertools
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from paperscope.file_cache import BoundedFolder
from paperscope.settings import Settings
from paperscope.store import upsert_papers
from paperscope.web.app import create_app
from paperscope.web.app_state import app_state
from tests.support.web_data import library, live_server

CAP = 12


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, FastAPI]]:
    settings = Settings(home=tmp_path / "home", request_interval=0.0, page_cache_entries=CAP,
                        similar_cache_files=CAP)
    app = create_app(settings, cache_seconds=30)
    upsert_papers(app_state(app).engine, library())
    with live_server(app) as url:
        yield url, app
    shared = app_state(app).response_cache.shared
    if shared is not None:
        shutil.rmtree(shared.folder, ignore_errors=True)
    app_state(app).engine.dispose()


def files_in(folder: Path) -> int:
    return sum(1 for p in folder.iterdir() if not p.name.startswith(".")) if folder.is_dir() else 0


def settles_at_most(count: Callable[[], int], bound: int) -> int:
    """Trimming runs on a background thread: wait (a few seconds at most) for it to get under `bound`."""
    deadline = time.monotonic() + 10
    while (n := count()) > bound and time.monotonic() < deadline:
        time.sleep(0.05)
    return n


def test_page_cache_keys_on_declared_parameters_and_stays_bounded(served: tuple[str, FastAPI]) -> None:
    url, app = served
    cache = app_state(app).response_cache
    with httpx.Client(base_url=url) as web:
        for n in range(40):  # junk parameters: answered, never stored
            assert web.get(f"/?date=2025-03-20&n={n}").status_code == 200
        assert len(cache) == 0
        first = web.get("/?date=2025-03-20&limit=5")
        again = web.get("/?limit=5&date=2025-03-20")  # the same page, parameters in another order
        assert again.headers["etag"] == first.headers["etag"] and len(cache) == 1
        for limit in range(1, 61):  # distinct, declared values: still bounded
            assert web.get(f"/?date=2025-03-20&limit={limit}").status_code == 200
        assert len(cache) <= CAP
    shared = cache.shared
    if shared is not None:
        assert settles_at_most(lambda: files_in(shared.folder), CAP) <= CAP


def test_similar_papers_cache_folder_is_pruned(served: tuple[str, FastAPI]) -> None:
    url, app = served
    ids = [p.paper_id for p in library()]
    folder = app_state(app).similar.cache_dir
    with httpx.Client(base_url=url) as web:
        for a, b in itertools.islice(itertools.combinations(ids, 2), 60):
            assert web.get("/api/similar", params={"ids": f"{a},{b}"}).status_code == 200
    assert settles_at_most(lambda: files_in(folder), CAP) <= CAP


def test_trimming_drops_the_least_recently_used_files(tmp_path: Path) -> None:
    folder = BoundedFolder(tmp_path, max_files=10, max_bytes=1 << 20)
    for n in range(12):
        (tmp_path / f"f{n}").write_bytes(b"x")
        (tmp_path / f"f{n}").touch()
        time.sleep(0.01)  # distinct modification times
    folder.touch(tmp_path / "f0")  # read just now: kept
    assert folder.trim() == 3 and files_in(tmp_path) == 9
    assert (tmp_path / "f0").exists() and not (tmp_path / "f1").exists() and (tmp_path / "f11").exists()
    for n in range(20):
        (tmp_path / f"big{n}").write_bytes(b"y" * 100_000)
    assert folder.trim() > 0
    assert sum(p.stat().st_size for p in tmp_path.iterdir()) <= 1 << 20
