"""A small, hand-made library for the web tests: three listing days (with a gap), cross-listings,
Hugging Face upvotes, TeX in an abstract, markup in a title, an old-style arXiv id."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path

import sqlalchemy as sa
import uvicorn
from fastapi import FastAPI

from paperscope.model import HfInfo, Paper
from paperscope.store import upsert_papers

MON, TUE, THU = date(2025, 3, 17), date(2025, 3, 18), date(2025, 3, 20)


def _hf(upvotes: int, when: datetime, repo: str | None = None, by: str | None = None) -> HfInfo:
    return HfInfo(upvotes=upvotes, submitted_at=when, github_repo=repo, submitted_by=by)


def library() -> list[Paper]:
    """The papers every web test loads."""
    papers = [
        Paper(title="Attention Is Still All You Need", arxiv_id="2503.10001", version=2,
              abstract="We revisit transformer attention and show that $O(n^2)$ cost can be cut.",
              authors=("Ada Lovelace", "Alan Turing"), categories=("cs.CL", "cs.LG"),
              published=MON, listed=MON, source="test",
              hf=_hf(40, datetime(2025, 3, 17, 9, tzinfo=UTC), "https://github.com/example/attn", "ada")),
        Paper(title="Graph Colourings of Sparse Graphs", arxiv_id="2503.10002",
              abstract="A combinatorial result about colourings.", authors=("Paul Erdos",),
              categories=("math.CO",), published=MON, listed=MON, source="test"),
        Paper(title="Diffusion Models for Text <script>alert(1)</script>", arxiv_id="2503.20001",
              abstract="Denoising diffusion for language generation with transformers.",
              authors=("Grace Hopper",), categories=("cs.LG", "cs.CL"), published=TUE, listed=TUE,
              source="test", hf=_hf(5, datetime(2025, 3, 18, 8, tzinfo=UTC))),
        Paper(title="Sparse Retrieval Revisited", arxiv_id="2503.20002",
              abstract="BM25 and learned sparse retrieval compared on many benchmarks.",
              authors=("Karen Sparck Jones",), categories=("cs.IR",), published=TUE, listed=TUE,
              source="test", hf=_hf(12, datetime(2025, 3, 18, 10, tzinfo=UTC))),
        Paper(title="Late Interaction at Scale", arxiv_id="2503.40001",
              abstract="Multi-vector retrieval with late interaction and compression.",
              authors=("Omar Khattab",), categories=("cs.IR", "cs.CL"), published=THU, listed=THU,
              source="test", hf=_hf(3, datetime(2025, 3, 20, 7, tzinfo=UTC))),
        Paper(title="String Dualities Old and New", arxiv_id="hep-th/9901001",
              abstract="An old-style identifier.", authors=("Ed Witten",), categories=("hep-th",),
              published=THU, listed=THU, source="test"),
    ]
    # Enough cs.CL papers on Thursday to need two pages at limit=10.
    papers += [
        Paper(title=f"Language Model Study {i}", arxiv_id=f"2503.4{i:04d}",
              abstract=f"Study number {i} of language models.", authors=(f"Author {i}",),
              categories=("cs.CL",), published=THU, listed=THU, source="test")
        for i in range(2, 14)
    ]
    return papers


def load_library(engine: sa.Engine) -> list[Paper]:
    """Store the library; return it."""
    papers = library()
    upsert_papers(engine, papers)
    return papers


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def live_server(app: FastAPI) -> Iterator[str]:
    """Serve `app` with uvicorn on 127.0.0.1 in a thread; yield its base URL; stop it afterwards."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def library_app(home: Path, *, with_vectors: bool = False) -> Iterator[FastAPI]:
    """The real app (page cache off) over a new store in `home` holding the library; `with_vectors`
    indexes it with the bundled encoder too, for similar papers and the meaning-based search modes."""
    from paperscope.embed import load_encoder
    from paperscope.index.build import build_index
    from paperscope.settings import Settings
    from paperscope.store import open_database
    from paperscope.web.app import create_app
    from paperscope.web.app_state import app_state

    config = Settings(home=home, request_interval=0.0)
    engine = open_database(config.db_url)
    load_library(engine)
    if with_vectors:
        build_index(engine, config.index_dir, load_encoder(config))
    engine.dispose()
    app = create_app(config, cache_seconds=0)
    try:
        yield app
    finally:
        app_state(app).engine.dispose()
