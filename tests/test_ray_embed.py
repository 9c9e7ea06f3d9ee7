"""`paperscope index --ray`: the embedding backfill as a Ray job on a local Ray with 2 CPUs."""

from __future__ import annotations

import importlib.util
import os
import signal
import sys
from collections.abc import Iterator
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from paperscope.cli import app as cli_app
from paperscope.embed import Encoder, load_encoder
from paperscope.index.embedder import Embedder, identity_of, resolve_model
from paperscope.index.indexset import IndexSet
from paperscope.model import Paper
from paperscope.settings import Settings
from paperscope.store import open_database, upsert_papers
from paperscope.store.embeddings import count_unembedded
from tests.search_corpus import corpus

needs_ray = pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                               reason="Ray is not installed (pip install 'paperscope[ray]')")
BATCH = 16

# One local Ray (2 CPUs) for the module, and never two at once.
pytestmark = [pytest.mark.slow, pytest.mark.serial]


def papers(n: int, offset: int = 0) -> list[Paper]:
    """`n` papers of varied length (so length sorting matters) listed over `n` days."""
    base = corpus()
    out = []
    for i in range(offset, offset + n):
        p = base[i % len(base)]
        out.append(replace(p, arxiv_id=f"2501.{i:05d}", title=f"{p.title}, part {i}",
                           abstract=" ".join([p.abstract] * (1 + i % 5)),
                           listed=date(2025, 1, 1) + timedelta(days=i % 90)))
    return out


@pytest.fixture(scope="module")
def model_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # One home for the module: the converted int8 graph is cached there once, for the test and the actors.
    return tmp_path_factory.mktemp("model-home")


@pytest.fixture(scope="module")
def encoder(model_home: Path) -> Encoder:
    return load_encoder(Settings(home=model_home))


@pytest.fixture(scope="module")
def local_ray(encoder: Encoder) -> Iterator[Any]:
    import ray

    from paperscope.index.ray_embed import _start_ray

    assert _start_ray(ray, None, 2)
    yield ray
    ray.shutdown()


def _stored(engine: sa.Engine) -> dict[str, tuple[bytes, bytes]]:
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT p.arxiv_id, e.pooled, e.tokens FROM paper_embeddings e "
                                    "JOIN papers p ON p.id = e.paper")).all()
    return {r.arxiv_id: (bytes(r.pooled), bytes(r.tokens)) for r in rows}


def _codec(engine: sa.Engine) -> bytes:
    with engine.connect() as conn:
        return bytes(conn.execute(sa.text("SELECT codec FROM embedding_models")).scalar_one())


@needs_ray
def test_ray_writes_the_vectors_the_local_path_writes(tmp_path: Path, model_home: Path, encoder: Encoder,
                                                      local_ray: Any) -> None:
    from paperscope.index.ray_embed import embed_with_ray

    corpus_ = papers(4 * 2 * BATCH)  # four batches for each of the two actors
    engines = {}
    for name in ("local", "ray"):
        engines[name] = open_database(f"sqlite:///{tmp_path / name}.db")
        upsert_papers(engines[name], corpus_)
    local = engines["local"]
    model = resolve_model(local, identity_of(encoder), encoder.dim)
    assert Embedder(local, encoder, model).run(batch_size=BATCH).added == len(corpus_)

    settings = Settings(home=model_home, database_url=f"sqlite:///{tmp_path / 'ray'}.db")
    on_ray = engines["ray"]
    model = resolve_model(on_ray, identity_of(encoder), encoder.dim)
    seen: list[tuple[int, int]] = []
    report, model = embed_with_ray(on_ray, settings, model, batch_size=BATCH, encoder=encoder,
                                   on_progress=lambda done, total: seen.append((done, total)))
    assert report.workers == 2 and report.done == report.added == len(corpus_)
    assert seen[-1] == (len(corpus_), len(corpus_)) and [d for d, _ in seen] == sorted(d for d, _ in seen)
    # Same model, same batches: the same codec and, paper by paper, the same bytes.
    assert _codec(on_ray) == _codec(local)
    assert _stored(on_ray) == _stored(local)


@needs_ray
@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_killed_actor_is_restarted_and_the_job_completes_on_postgresql(
        db_url: str, model_home: Path, encoder: Encoder, local_ray: Any) -> None:
    from paperscope.index.ray_embed import embed_with_ray

    engine = open_database(db_url)
    total = 8 * BATCH
    upsert_papers(engine, papers(total))
    settings = Settings(home=model_home, database_url=db_url)
    model = resolve_model(engine, identity_of(encoder), encoder.dim)
    victim: dict[str, int] = {}

    def pick(actors: list[Any]) -> None:
        victim["pid"] = local_ray.get(actors[0].pid.remote())

    def kill_once(done: int, _total: int) -> None:
        # A few batches in, with batches queued on it: kill -9 one actor's process.
        if done >= 3 * BATCH and "killed" not in victim:
            os.kill(victim["pid"], signal.SIGKILL)
            victim["killed"] = done

    report, model = embed_with_ray(engine, settings, model, batch_size=BATCH, encoder=encoder,
                                   on_workers=pick, on_progress=kill_once)
    assert victim.get("killed", total) < total, "the job ended before the kill"
    assert report.done == total
    with engine.connect() as conn:
        per_paper = conn.execute(sa.text("SELECT paper, count(*) FROM paper_embeddings GROUP BY paper")).all()
    assert len(per_paper) == total and {n for _, n in per_paper} == {1}

    # The CLI on the same store: new papers are embedded on Ray, then the index files follow the store.
    upsert_papers(engine, papers(BATCH + 4, offset=total))
    home = settings.home  # the module's home: its converted graph is there already
    result = CliRunner().invoke(cli_app, ["--home", str(home), "--database-url", db_url, "index", "--ray"])
    assert result.exit_code == 0, result.output
    assert f"embedded {BATCH + 4} papers on Ray" in result.output
    assert f"index is up to date: {total + BATCH + 4} papers" in result.output
    assert count_unembedded(engine, model.id) == 0
    index = IndexSet.open(home / "index")
    assert index is not None and len(index.tokens) == total + BATCH + 4
    engine.dispose()


def test_sqlite_store_refuses_a_cluster_address(tmp_path: Path) -> None:
    base = ["--home", str(tmp_path / "home")]
    result = CliRunner().invoke(cli_app, [*base, "index", "--ray-address", "10.1.2.3:6379"])
    assert result.exit_code == 2
    assert "SQLite file on this machine" in result.output and "10.1.2.3:6379" in result.output
    assert "PostgreSQL" in result.output
    assert not (tmp_path / "home" / "paperscope.db").exists()  # refused before anything started


def test_without_ray_installed_it_says_how_to_install(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now fails as if it were not installed
    result = CliRunner().invoke(cli_app, ["--home", str(tmp_path / "home"), "index", "--ray"])
    assert result.exit_code == 2
    assert "pip install 'paperscope[ray]'" in result.output
