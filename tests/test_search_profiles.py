"""Retrieval profiles: the bundled model searches with what was tuned on it; a user model without a
profile gets neutral defaults and is told so (never the MiniLM calibration)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from paperscope.embed import load_encoder
from paperscope.embed.bundled import BUNDLED_NAME
from paperscope.index.build import build_index
from paperscope.index.indexset import IndexSet
from paperscope.index.profiles import MINILM, NEUTRAL, profile_for
from paperscope.model import Paper
from paperscope.search import SearchConfig, SearchEngine
from paperscope.search.calibration import Calibration
from paperscope.settings import Settings
from paperscope.store import open_database, upsert_papers
from paperscope.web.app import create_app
from tests.support.tiny_model import tiny_model_dir

# Words the tiny test model knows (tests/support/tiny_model.py's vocabulary).
PAPERS = [("Protein folding", "protein folding protein"), ("Neural networks", "neural networks"),
          ("Graph neural networks", "graph neural networks graph"), ("Hello world", "hello world")]


def test_bundled_model_keeps_the_defaults_tuned_on_it() -> None:
    assert profile_for(BUNDLED_NAME) is MINILM and profile_for(BUNDLED_NAME + "-weights") is MINILM
    assert MINILM.tuned and not NEUTRAL.tuned and NEUTRAL.calibration is None
    # What searches ran with before profiles existed: the same weights, depths and calibration.
    assert SearchConfig.from_profile(MINILM) == SearchConfig()
    assert MINILM.calibration is not None and Calibration(*MINILM.calibration) == Calibration.bundled()


@pytest.fixture
def user_model_home(tmp_path: Path, db_url: str) -> Settings:
    """A store of four papers indexed by a user model directory that has no tuned profile."""
    model = tiny_model_dir(tmp_path / "tiny", {"name": "tiny-test", "max_length": 12})
    settings = Settings(home=tmp_path / "home", database_url=db_url, model=str(model))
    engine = open_database(db_url)
    upsert_papers(engine, [Paper(arxiv_id=f"2501.0000{i}", title=t, abstract=a, categories=("cs.LG",),
                                 source="test") for i, (t, a) in enumerate(PAPERS, start=1)])
    build_index(engine, settings.index_dir, load_encoder(settings))
    return settings


def test_user_model_without_a_profile_gets_neutral_defaults_and_a_note(user_model_home: Settings) -> None:
    settings = user_model_home
    idx = IndexSet.open(settings.index_dir)
    assert idx is not None and idx.manifest.spec.model == "tiny-test"
    search = SearchEngine(open_database(settings.db_url), settings)
    assert search.profile is NEUTRAL and search.calibration is None
    assert search.config.weights == {"bm25": 1.0, "dense": 1.0, "late": 1.0} and search.config.rrf_k == 60

    plain = search.search("protein folding", mode="hybrid", k=4)
    assert plain.mode == "hybrid" and plain.hits[0].paper_id == "2501.00001"
    assert any("'tiny-test' has no tuned retrieval profile" in n for n in plain.notes)
    # A threshold would need the MiniLM calibration, which says nothing about this model: it is ignored.
    strict = search.search("protein folding", mode="hybrid", k=4, threshold=0.99)
    assert [h.rowid for h in strict.hits] == [h.rowid for h in plain.hits] and not strict.no_good_answer
    assert any("no relevance threshold is calibrated for model 'tiny-test'" in n for n in strict.notes)
    # Keyword search needs no profile, so it says nothing about one.
    assert not search.search("protein folding", mode="bm25").notes


def test_search_page_and_json_say_the_model_has_no_profile(user_model_home: Settings) -> None:
    with TestClient(create_app(user_model_home)) as client:
        data = client.get("/search", params={"q": "neural networks", "format": "json"}).json()
        assert data["results"] and any("no tuned retrieval profile" in n for n in data["notes"])
        page = client.get("/search", params={"q": "neural networks"}).text
        assert "no tuned retrieval profile" in page


def test_model_info_names_the_retrieval_profile(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from paperscope.cli import app as cli_app

    model = tiny_model_dir(tmp_path / "tiny", {"name": "tiny-test"})
    shown = CliRunner().invoke(cli_app, ["--home", str(tmp_path / "home"), "model", "info", "--json"],
                               env={"PAPERSCOPE_MODEL": str(model)})
    assert shown.exit_code == 0, shown.output
    assert '"retrieval_profile":"neutral"' in shown.output.replace(" ", "")
