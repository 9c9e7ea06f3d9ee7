"""Vectors are data: embeddings live in the store, and every index file is a cache rebuilt from it."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from paperscope.cli import app as cli_app
from paperscope.embed import Encoder
from paperscope.embed.bundled import BUNDLED_TOKENIZER, bundled_files
from paperscope.index.build import build_index
from paperscope.index.embedder import current_model, identity_of
from paperscope.index.indexset import IndexSet
from paperscope.index.sync import IndexSync
from paperscope.search import SearchEngine
from paperscope.settings import Settings
from paperscope.store import upsert_papers
from paperscope.store.embeddings import count_embeddings
from paperscope.web.app import create_app
from paperscope.web.app_state import app_state
from tests.search_corpus import corpus
from tests.support.encoders import ConvertedModels
from tests.support.synthetic import synthetic_papers

# The backend matters here (tests/conftest.py): every store-backed test runs on SQLite and PostgreSQL.
pytestmark = pytest.mark.both_backends

QUERIES = ("late interaction retrieval with token embeddings", "protein structure", "graph neural networks")


@pytest.fixture(scope="module")
def encoder(bundled_encoder: Encoder) -> Encoder:
    return bundled_encoder


def _results(search: SearchEngine) -> dict[tuple[str, str], list[tuple[str, float]]]:
    return {(q, mode): [(h.paper_id, round(h.score, 4)) for h in search.search(q, mode=mode, k=8).hits]
            for q in QUERIES for mode in ("bm25", "dense", "late", "hybrid")}


def test_the_bundled_encoder_needs_only_the_package() -> None:
    # `pip install paperscope` alone: the tokenizer ships inside the package, the graph in a dependency.
    import paperscope

    onnx_path, tokenizer = bundled_files()
    assert tokenizer == BUNDLED_TOKENIZER and tokenizer.is_file()
    assert Path(paperscope.__file__).parent in tokenizer.parents
    assert onnx_path.is_file()


def test_store_holds_each_papers_vectors_and_the_codec(engine: sa.Engine, settings: Settings,
                                                      encoder: Encoder) -> None:
    upsert_papers(engine, corpus()[:12])
    build_index(engine, settings.index_dir, encoder)
    model = current_model(engine, identity_of(encoder))
    assert model is not None and model.codec is not None and model.spec["token_pool_factor"] == 2
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT paper, pooled, tokens FROM paper_embeddings")).all()
    assert len(rows) == 12 and len({r.paper for r in rows}) == 12
    assert all(len(r.pooled) == 2 * encoder.dim and len(r.tokens) % 128 == 0 and r.tokens for r in rows)
    # The index holds exactly what the store holds.
    idx = IndexSet.open(settings.index_dir)
    assert idx is not None and idx.manifest.model_id == model.id
    some = rows[0]
    stored = np.frombuffer(some.tokens, np.int8).reshape(-1, 128)
    assert np.array_equal(idx.tokens.get_codes(some.paper), stored)


def test_deleted_index_is_rebuilt_from_the_store_without_the_model(
        engine: sa.Engine, settings: Settings, encoder: Encoder, monkeypatch: pytest.MonkeyPatch) -> None:
    upsert_papers(engine, corpus())
    build_index(engine, settings.index_dir, encoder)
    before = _results(SearchEngine(engine, settings, encoder=encoder))
    shutil.rmtree(settings.index_dir)

    def no_model(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the model must not be loaded to rebuild")

    monkeypatch.setattr("paperscope.embed.onnx_model.OnnxEncoder.__init__", no_model)
    base = ["--home", str(settings.home), "--database-url", settings.db_url]
    result = CliRunner().invoke(cli_app, [*base, "index", "--rebuild"])
    assert result.exit_code == 0, result.output
    assert "rebuilt from the store: 32 papers" in result.output
    monkeypatch.undo()
    assert _results(SearchEngine(engine, settings, encoder=encoder)) == before


def test_index_behind_ahead_or_missing_is_repaired(engine: sa.Engine, settings: Settings,
                                                   encoder: Encoder) -> None:
    papers = corpus()
    upsert_papers(engine, papers[:10])
    build_index(engine, settings.index_dir, encoder)
    backup = settings.home / "index-backup"
    shutil.copytree(settings.index_dir, backup)
    upsert_papers(engine, papers[10:])
    build_index(engine, settings.index_dir, encoder)
    model = current_model(engine, identity_of(encoder))
    assert model is not None

    # An old copy of the index (store ahead): brought forward, nothing rebuilt.
    shutil.rmtree(settings.index_dir)
    shutil.copytree(backup, settings.index_dir)
    report = IndexSync(engine, settings.index_dir).run(model)
    assert (report.added, report.rebuilt) == (22, False)
    idx = IndexSet.open(settings.index_dir)
    assert idx is not None and len(idx.pooled) == len(idx.tokens) == 32

    # A store restored from an older backup (index ahead): rebuilt to what the store holds.
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM paper_embeddings WHERE seq > (SELECT min(seq) + 26 FROM "
                             "paper_embeddings)"))
    report = IndexSync(engine, settings.index_dir).run(model)
    assert report.rebuilt and "ahead" in report.reason
    idx = IndexSet.open(settings.index_dir)
    assert idx is not None and len(idx.pooled) == len(idx.fde_ann) == len(idx.tokens) == 27

    # A missing folder: search says so and answers with bm25; the next catch-up restores it.
    shutil.rmtree(settings.index_dir)
    search = SearchEngine(engine, settings, encoder=encoder)
    result = search.search(papers[3].title, mode="late", k=3)
    assert result.mode == "bm25" and any("no vector index" in n for n in result.notes)
    assert result.hits[0].paper_id == papers[3].arxiv_id
    assert IndexSync(engine, settings.index_dir).run(model).added == 27
    assert search.search(papers[3].title, mode="late", k=1).mode == "late"


def test_another_models_vectors_are_never_mixed(engine: sa.Engine, settings: Settings, encoder: Encoder,
                                                tmp_path: Path) -> None:
    upsert_papers(engine, corpus()[:6])
    build_index(engine, settings.index_dir, encoder)
    # A user model directory with other files: another identity.
    other = tmp_path / "other-model"
    other.mkdir()
    onnx_path, tokenizer = bundled_files()
    os.symlink(onnx_path, other / "model.onnx")
    shutil.copy(tokenizer, other / "tokenizer.json")
    (other / "paperscope.json").write_text('{"name": "other-minilm", "max_length": 128}')
    base = ["--home", str(settings.home), "--database-url", settings.db_url]
    env = {"PAPERSCOPE_MODEL": str(other)}
    refused = CliRunner().invoke(cli_app, [*base, "index"], env=env)
    assert refused.exit_code == 2
    assert "other-minilm" in refused.output and "--reencode" in refused.output
    assert count_embeddings(engine, current_model(engine, identity_of(encoder)).id) == 6  # type: ignore[union-attr]
    # Queries from the other model are not run against these vectors either.
    other_settings = settings.model_copy(update={"model": str(other)})
    result = SearchEngine(engine, other_settings).search(corpus()[1].title, mode="dense")
    assert result.mode == "bm25" and any("--reencode" in n for n in result.notes)
    # The way out works: every paper encoded again by the new model, the old vectors gone.
    done = CliRunner().invoke(cli_app, [*base, "index", "--reencode"], env=env)
    assert done.exit_code == 0, done.output
    idx = IndexSet.open(settings.index_dir)
    assert idx is not None and idx.manifest.spec.model == "other-minilm" and len(idx.pooled) == 6
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM embedding_models")).scalar_one() == 1


def test_partial_coverage_is_said_and_unembedded_papers_still_found(engine: sa.Engine, settings: Settings,
                                                                   encoder: Encoder) -> None:
    papers = corpus()
    upsert_papers(engine, papers)
    build_index(engine, settings.index_dir, encoder, limit=10)  # newest ten only
    app = create_app(settings, cache_seconds=0)
    app_state(app).search_engine = SearchEngine(engine, settings, encoder=encoder)
    client = TestClient(app)
    data = client.get("/api/search", params={"q": "retrieval", "mode": "hybrid"}).json()
    assert data["semantic_index"] == {"indexed": 10, "papers": 32, "complete": False}
    page = client.get("/search", params={"q": "retrieval", "mode": "hybrid"}).text
    assert "Semantic index: 10 of 32 papers" in page
    # The oldest paper has no vector yet; hybrid still finds it by its words.
    oldest = min(papers, key=lambda p: (p.listed, p.arxiv_id or ""))
    found = client.get("/api/search", params={"q": oldest.title, "mode": "hybrid"}).json()
    assert oldest.arxiv_id in [r["id"] for r in found["results"][:3]]


@pytest.mark.slow
def test_kill_9_while_indexing_loses_and_doubles_nothing(engine: sa.Engine, settings: Settings,
                                                         converted_models: ConvertedModels) -> None:
    upsert_papers(engine, synthetic_papers(300))
    converted_models.seed_home(settings.home)  # the CLI finds the model converted, as after any first run
    env = {**os.environ, "PAPERSCOPE_HOME": str(settings.home), "PAPERSCOPE_DATABASE_URL": settings.db_url}
    cmd = [sys.executable, "-m", "paperscope", "index"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    stored = 0
    with engine.connect() as conn:
        while time.monotonic() < deadline and proc.poll() is None:
            stored = conn.execute(sa.text("SELECT count(*) FROM paper_embeddings")).scalar_one()
            conn.commit()
            if stored >= 64:
                break
            time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert 0 < stored < 300, "the run ended before it could be killed mid-way"
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    with engine.connect() as conn:
        total, distinct = conn.execute(
            sa.text("SELECT count(*), count(DISTINCT paper) FROM paper_embeddings")).one()
    assert (total, distinct) == (300, 300)
    idx = IndexSet.open(settings.index_dir)
    assert idx is not None and len(idx.pooled) == len(idx.fde_ann) == len(idx.tokens) == 300


def test_an_index_folder_from_before_stored_embeddings_moves_into_the_store(
        engine: sa.Engine, settings: Settings, encoder: Encoder, monkeypatch: pytest.MonkeyPatch) -> None:
    upsert_papers(engine, corpus())
    build_index(engine, settings.index_dir, encoder)
    before = _results(SearchEngine(engine, settings, encoder=encoder))
    # The old layout: index files directly under index/, a manifest without a model row, an empty store.
    root = settings.index_dir
    for item in (root / "vectors").iterdir():
        item.rename(root / item.name)
    (root / "vectors").rmdir()
    manifest = json.loads((root / "manifest.json").read_text())
    (root / "manifest.json").write_text(json.dumps({"spec": manifest["spec"], "last_rowid": 32, "count": 32}))
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM paper_embeddings"))
        conn.execute(sa.text("DELETE FROM embedding_models"))
    monkeypatch.setattr("paperscope.embed.onnx_model.OnnxEncoder.__init__", _no_model)
    base = ["--home", str(settings.home), "--database-url", settings.db_url]
    result = CliRunner().invoke(cli_app, [*base, "index"])
    assert result.exit_code == 0, result.output
    assert "moved 32 papers' vectors" in result.output
    monkeypatch.undo()
    assert not (root / "manifest.json").exists() and (root / "vectors" / "manifest.json").exists()
    assert _results(SearchEngine(engine, settings, encoder=encoder)) == before


def _no_model(*_args: object, **_kwargs: object) -> None:
    raise AssertionError("the model must not be loaded")
