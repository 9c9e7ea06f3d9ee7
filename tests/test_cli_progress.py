"""Long CLI commands say what they are doing from the first second, fail fast when offline, and never
leave out part of an answer silently (issue #16 item 17)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from paperscope.cli import app as cli_app
from paperscope.model import Paper
from paperscope.settings import Settings
from paperscope.store import open_database, upsert_papers
from tests.support.web_data import free_port


def _store(home: Path, categories: int) -> None:
    engine = open_database(Settings(home=home).db_url)
    upsert_papers(engine, [Paper(title=f"Paper {i}", arxiv_id=f"2501.{i:05d}", source="test",
                                 abstract="An abstract.", categories=(f"cs.X{i:02d}",),
                                 listed=date(2025, 1, 2)) for i in range(categories)])
    engine.dispose()


def test_add_while_offline_says_so_at_once_and_gives_up_after_one_retry(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there: every connection is refused, as when offline
    env = {"PAPERSCOPE_ARXIV_API_URL": f"http://127.0.0.1:{port}/api/query",
           "PAPERSCOPE_REQUEST_INTERVAL": "0.1", "COLUMNS": "200"}
    result = CliRunner().invoke(cli_app, ["--home", str(tmp_path), "add", "2405.19504"], env=env)
    assert result.exit_code != 0
    lines = result.output.splitlines()
    assert lines[0].startswith(f"fetching 1 paper from 127.0.0.1:{port}")  # before any waiting
    assert result.output.count("trying again") == 1, result.output  # not three silent back-offs
    assert "ConnectError" in result.output


@pytest.mark.slow
def test_index_limit_zero_says_what_waits(tmp_path: Path) -> None:
    _store(tmp_path, 3)
    result = CliRunner().invoke(cli_app, ["--home", str(tmp_path), "index", "--limit", "0"],
                                env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == "BM25 index: bringing it up to date…"
    assert "nothing indexed (--limit 0); 3 papers wait to be indexed" in result.output
    assert "up to date\n" not in result.output.replace("BM25 index: up to date\n", "")


def test_stats_says_when_categories_are_cut(tmp_path: Path) -> None:
    _store(tmp_path, 35)
    cut = CliRunner().invoke(cli_app, ["--home", str(tmp_path), "stats"], env={"COLUMNS": "200"})
    assert cut.exit_code == 0, cut.output
    assert "the 30 largest of 35 categories" in cut.output
    full = CliRunner().invoke(cli_app, ["--home", str(tmp_path), "stats", "--all-categories"],
                              env={"COLUMNS": "200"})
    assert "cs.X34" in full.output and "largest of" not in full.output
