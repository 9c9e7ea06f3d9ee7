"""Many servers, one store: `paperscope serve` processes with their own homes on one PostgreSQL.

One embeds in the background, the other only catches up from the store; a paper stored through one is
found by the other in every semantic mode within seconds, and kill -9 of either mid-way loses nothing.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from paperscope.embed import load_encoder
from paperscope.index.build import build_index
from paperscope.index.indexset import IndexSet
from paperscope.model import Paper
from paperscope.settings import Settings
from paperscope.store import open_database, upsert_papers
from tests.pg import PgServer, free_port
from tests.search_corpus import corpus
from tests.support.encoders import ConvertedModels
from tests.support.synthetic import synthetic_papers as _synthetic

pytestmark = [pytest.mark.slow, pytest.mark.serial]

NEW = Paper(arxiv_id="2612.99999", title="Quokka colonies as a model for decentralised gradient descent",
            abstract="We study how quokka colonies share foraging routes and derive a decentralised "
                     "optimiser for training marsupial-scale neural networks.", categories=("cs.LG",),
            source="test")


class Server:
    """One `paperscope serve` process with its own home."""

    def __init__(self, home: Path, url: str, *extra: str) -> None:
        self.home, self.url, self.extra = home, url, extra
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.http = httpx.Client(base_url=self.base, timeout=60)  # one client: polling costs no TLS set-up

    def start(self) -> Server:
        env = {**os.environ, "PAPERSCOPE_HOME": str(self.home), "PAPERSCOPE_DATABASE_URL": self.url,
               "PAPERSCOPE_INDEX_POLL_SECONDS": "0.2"}
        self.home.mkdir(parents=True, exist_ok=True)
        log = open(self.home / "serve.log", "ab")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "paperscope", "serve", "--port", str(self.port), "--workers", "1",
             "--cache-seconds", "0", "--log-level", "warning", *self.extra],
            env=env, stdout=log, stderr=log)
        log.close()
        wait_for(lambda: self.ready(), 120, f"server on {self.base} did not start")
        return self

    def ready(self) -> bool:
        try:
            return self.http.get("/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def search(self, q: str, mode: str) -> dict[str, Any]:
        response = self.http.get("/api/search", params={"q": q, "mode": mode, "limit": 5})
        response.raise_for_status()
        return dict(response.json())

    def covered(self) -> int:
        coverage = self.search("gradient", "dense")["semantic_index"]
        return int(coverage["indexed"]) if coverage else 0

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        self.http.close()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()


def wait_for(check: Callable[[], bool], timeout: float, message: str) -> float:
    """Seconds until `check()` held; fails after `timeout`."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout:
            raise AssertionError(message)
        time.sleep(0.1)
    return time.monotonic() - start


@pytest.fixture
def store_url(pg_server: PgServer) -> Iterator[str]:
    url = pg_server.create_database()
    yield url
    pg_server.drop_database(url)


def _count(engine: sa.Engine) -> tuple[int, int, int]:
    with engine.connect() as conn:
        papers = conn.execute(sa.text("SELECT count(*) FROM papers")).scalar_one()
        rows, distinct = conn.execute(
            sa.text("SELECT count(*), count(DISTINCT paper) FROM paper_embeddings")).one()
    return int(papers), int(rows), int(distinct)


def test_two_servers_one_postgresql(store_url: str, tmp_path: Path,
                                    converted_models: ConvertedModels) -> None:
    engine = open_database(store_url)
    upsert_papers(engine, corpus())
    home_a, home_b = tmp_path / "a", converted_models.seed_home(tmp_path / "b")
    build_index(engine, home_a / "index", load_encoder(Settings(home=home_a)))
    a, b = Server(home_a, store_url), Server(home_b, store_url, "--no-embed")
    try:
        a.start()
        b.start()
        # B had no index at all: it builds one from the store, without encoding anything.
        wait_for(lambda: b.covered() == 32, 60, "server B did not build its index from the store")

        upsert_papers(engine, [NEW])  # stored through any process; A embeds it, B catches up
        for mode in ("late", "dense", "hybrid"):
            def found(mode: str = mode) -> bool:
                hits = b.search(NEW.title, mode)["results"]
                return bool(hits) and hits[0]["id"] == NEW.arxiv_id and b.covered() == 33
            waited = wait_for(found, 10, f"server B did not find the new paper in {mode} mode within 10 s")
            assert waited < 10

        # Five background batches' worth of papers; B is killed mid catch-up and A mid-embedding (three
        # batches in, two to go); both restarted.
        upsert_papers(engine, _synthetic(160))
        wait_for(lambda: b.covered() > 33, 60, "B never started catching up")
        b.kill()
        wait_for(lambda: _count(engine)[1] > 100, 120, "A stopped embedding")
        a.kill()
        papers, rows, distinct = _count(engine)
        assert rows == distinct < papers == 193  # mid-way, and nothing doubled
        a.start()
        b.start()
        wait_for(lambda: _count(engine)[1] == 193, 180, "the restarted embedder did not finish")
        wait_for(lambda: b.covered() == 193 and a.covered() == 193, 60, "the servers did not catch up")
        assert _count(engine) == (193, 193, 193)
        for home in (home_a, home_b):
            idx = IndexSet.open(home / "index")
            assert idx is not None and len(idx.pooled) == len(idx.fde_ann) == len(idx.tokens) == 193
        assert b.search(NEW.title, "late")["results"][0]["id"] == NEW.arxiv_id
    finally:
        a.stop()
        b.stop()
        engine.dispose()
