"""The indexing pipeline with the real bundled encoder: complete, incremental, resumable, rebuildable."""

from __future__ import annotations

import json

import numpy as np
import pytest
import sqlalchemy as sa

from paperscope.embed import Encoder
from paperscope.index.build import IndexSet, Manifest, build_index, pending_papers
from paperscope.model import Paper
from paperscope.settings import Settings
from paperscope.store import upsert_papers
from tests.search_corpus import corpus

# The backend matters here (tests/conftest.py): every store-backed test runs on SQLite and PostgreSQL.
pytestmark = pytest.mark.both_backends


@pytest.fixture(scope="module")
def encoder(bundled_encoder: Encoder) -> Encoder:
    return bundled_encoder


def test_build_then_incremental(engine: sa.Engine, settings: Settings, encoder: Encoder) -> None:
    papers = corpus()
    upsert_papers(engine, papers[:24])
    root = settings.index_dir
    assert pending_papers(engine, root) == 24
    report = build_index(engine, root, encoder)
    assert (report.added, pending_papers(engine, root)) == (24, 0)
    assert build_index(engine, root, encoder).added == 0  # nothing new: nothing re-embedded

    upsert_papers(engine, papers[24:])
    assert pending_papers(engine, root) == 8
    report = build_index(engine, root, encoder)
    assert report.added == 8 and report.resumed_from > 0
    idx = IndexSet.open(root)
    assert idx is not None
    assert len(idx.pooled) == len(idx.fde_ann) == len(idx.tokens) == 32
    # The stored vectors are the ones the encoder produces: a paper is its own nearest neighbour.
    with engine.connect() as conn:
        rowid = conn.execute(sa.text("SELECT id FROM papers WHERE paper_id = '2503.00030'")).scalar_one()
    target = papers[29]
    q = encoder.encode_documents([f"{target.title}. {target.abstract}"])[0]
    keys, _ = idx.pooled.search(q.pooled, 1)
    assert int(keys[0]) == rowid
    scores = idx.tokens.maxsim(q.tokens, np.array([rowid, rowid - 1]))
    assert scores[0] > scores[1]
    # New index sets pool the stored tokens: about one row per two tokens of the text.
    assert idx.manifest.spec.token_pool_factor == idx.tokens.pool_factor == 2
    assert len(idx.tokens.get(rowid)) <= -(-len(q.tokens) // 2)


def test_index_written_before_token_pooling_keeps_every_token(settings: Settings) -> None:
    root = settings.index_dir
    root.mkdir(parents=True, exist_ok=True)
    old_spec = {"model": "m", "dim": 8, "fde_r_reps": 2, "fde_k_sim": 1, "fde_d_proj": 4,
                "fde_final_dim": None, "fde_seed": 1, "dtype": "f16", "fde_dtype": "i8"}
    (root / "manifest.json").write_text(json.dumps({"spec": old_spec, "last_rowid": 3, "count": 3}))
    manifest = Manifest.read(root / "manifest.json")
    assert manifest is not None and manifest.spec.token_pool_factor == 1
    # Written before embeddings were stored: it names no model row, so the next sync replaces it.
    assert manifest.model_id is None and manifest.last_seq == 0


def test_killed_run_resumes_without_duplicates(engine: sa.Engine, settings: Settings,
                                                encoder: Encoder) -> None:
    upsert_papers(engine, corpus())
    root = settings.index_dir

    class Killed(Exception):
        pass

    def die_after_two_batches(done: int, _total: int) -> None:
        if done >= 16:
            raise Killed

    with pytest.raises(Killed):
        build_index(engine, root, encoder, batch_size=8, on_progress=die_after_two_batches)
    # Each batch was stored in its own transaction: the two finished batches are kept.
    assert pending_papers(engine, root, encoder) == 16
    report = build_index(engine, root, encoder, batch_size=8)
    assert report.added == 16 and pending_papers(engine, root, encoder) == 0
    idx = IndexSet.open(root)
    assert idx is not None and len(idx.pooled) == len(idx.tokens) == 32
    with engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT count(*), count(DISTINCT paper) FROM paper_embeddings")).one()
    assert tuple(stored) == (32, 32)


def test_rebuild_and_model_mismatch(engine: sa.Engine, settings: Settings, encoder: Encoder) -> None:
    upsert_papers(engine, corpus()[:10])
    root = settings.index_dir
    build_index(engine, root, encoder)
    report = build_index(engine, root, encoder, rebuild=True)
    # A rebuild reads the stored embeddings: nothing is encoded again.
    assert (report.added, report.indexed, report.rebuilt) == (0, 10, True)

    class OtherModel:
        name = "some-other-model"
        dim = encoder.dim

        def encode_documents(self, texts: list[str], batch_size: int = 32) -> list[object]:
            raise AssertionError("must not encode with a mismatched index")

    upsert_papers(engine, [Paper(arxiv_id="2599.00001", title="New", source="test")])
    with pytest.raises(ValueError, match="--reencode") as refused:
        build_index(engine, root, OtherModel())  # type: ignore[arg-type]
    assert "some-other-model" in str(refused.value) and encoder.name in str(refused.value)
    idx = IndexSet.open(root)
    assert idx is not None and idx.manifest.spec.model == encoder.name and len(idx.pooled) == 10


def test_cli_token_pool_factor_applies_to_new_or_rebuilt_indexes(engine: sa.Engine,
                                                                 settings: Settings) -> None:
    from typer.testing import CliRunner

    from paperscope.cli import app as cli_app

    upsert_papers(engine, corpus()[:6])
    base = ["--home", str(settings.home), "--database-url", settings.db_url, "index"]
    first = CliRunner().invoke(cli_app, [*base, "--token-pool-factor", "1"])
    assert first.exit_code == 0, first.output
    idx = IndexSet.open(settings.index_dir)
    assert idx is not None and idx.tokens.pool_factor == idx.manifest.spec.token_pool_factor == 1
    # The pooling is part of what the encoder stored: changing it means encoding again, said so.
    refused = CliRunner().invoke(cli_app, [*base, "--token-pool-factor", "2"])
    assert refused.exit_code != 0 and "--reencode" in refused.output
    refused = CliRunner().invoke(cli_app, [*base, "--token-pool-factor", "2", "--rebuild"])
    assert refused.exit_code != 0 and "--reencode" in refused.output
    rebuilt = CliRunner().invoke(cli_app, [*base, "--token-pool-factor", "2", "--reencode"])
    assert rebuilt.exit_code == 0, rebuilt.output
    idx = IndexSet.open(settings.index_dir)
    assert idx is not None and idx.tokens.pool_factor == 2 and len(idx.tokens) == 6


def test_cli_fde_shape_applies_to_new_or_rebuilt_indexes(engine: sa.Engine, settings: Settings) -> None:
    from typer.testing import CliRunner

    from paperscope.cli import app as cli_app
    from paperscope.search import SearchEngine

    upsert_papers(engine, corpus()[:6])
    base = ["--home", str(settings.home), "--database-url", settings.db_url, "index"]
    bad = CliRunner().invoke(cli_app, [*base, "--fde", "8,9,4"])
    assert bad.exit_code == 2 and "k_sim" in bad.output and IndexSet.open(settings.index_dir) is None
    first = CliRunner().invoke(cli_app, [*base, "--fde", "8,2,4"])
    assert first.exit_code == 0, first.output
    idx = IndexSet.open(settings.index_dir)
    assert idx is not None and idx.fde.config.output_dim == 8 * 4 * 4
    assert idx.fde_ann.bytes_per_vector() == 128  # int8
    refused = CliRunner().invoke(cli_app, [*base, "--fde", "20,5,16"])
    assert refused.exit_code != 0 and "fde_d_proj=4" in refused.output and "--rebuild" in refused.output
    rebuilt = CliRunner().invoke(cli_app, [*base, "--fde", "20,5,16,1024", "--rebuild"])
    assert rebuilt.exit_code == 0, rebuilt.output
    idx = IndexSet.open(settings.index_dir)
    assert idx is not None and idx.fde.config.output_dim == 1024 and len(idx.fde_ann) == 6
    hit = SearchEngine(engine, settings).search(corpus()[2].title, mode="late", k=1).hits[0]
    assert hit.paper_id == corpus()[2].arxiv_id
