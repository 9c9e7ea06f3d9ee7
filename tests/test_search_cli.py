"""`paperscope eval beir` and `paperscope search` as a user runs them, on a BEIR folder the test writes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from paperscope.cli import app as cli_app
from tests.search_corpus import TOPICS

QUERIES = {
    "q1": ("gravitational waves from merging black holes",
           "Black hole mergers observed by gravitational waves"),
    "q2": ("automobile that steers itself", "Autonomous driving motion planning"),
    "q3": ("how strongly antibodies bind to viruses", "Antibody binding affinity"),
    "q4": ("counting points on curves modulo a prime", "Elliptic curves over finite fields"),
}


def write_beir(root: Path) -> Path:
    """The search corpus as a BEIR folder: one judged document per query."""
    docs = [(title, abstract) for _cat, (_name, items) in TOPICS.items() for title, abstract in items]
    ids = {title: f"d{i}" for i, (title, _) in enumerate(docs)}
    (root / "qrels").mkdir(parents=True)
    (root / "corpus.jsonl").write_bytes(b"\n".join(
        orjson.dumps({"_id": ids[t], "title": t, "text": a}) for t, a in docs))
    (root / "queries.jsonl").write_bytes(b"\n".join(
        orjson.dumps({"_id": q, "text": text}) for q, (text, _) in QUERIES.items()))
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join(
        f"{q}\t{ids[title]}\t1\n" for q, (_, title) in QUERIES.items()))
    return root


def table_rows(output: str) -> dict[str, list[float]]:
    """mode -> the numbers of its row in the printed table."""
    rows = {}
    for line in output.splitlines():
        cells = [c.strip() for c in re.split(r"[│|┃]", line) if c.strip()]
        if len(cells) == 7 and cells[0] in ("bm25", "dense", "late", "hybrid"):
            rows[cells[0]] = [float(c) for c in cells[1:]]
    return rows


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    base = tmp_path_factory.mktemp("beir")
    data, work = write_beir(base / "data"), base / "work"
    result = CliRunner().invoke(cli_app, ["eval", "beir", str(data), "--workdir", str(work),
                                          "--mode", "bm25", "--mode", "hybrid"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return work, result.output


def test_eval_beir_reports_quality_and_latency_per_mode(evaluated: tuple[Path, str]) -> None:
    _work, output = evaluated
    rows = table_rows(output)
    assert set(rows) == {"bm25", "hybrid"}
    ndcg, recall, mrr, p50, p99, _p50_search = rows["hybrid"]
    # The meaning-only query (q2 shares no word with its document) is found by hybrid, not by bm25.
    assert ndcg > rows["bm25"][0] and recall == 1.0 and mrr > 0.7
    assert 0 < p50 <= p99


def test_eval_beir_on_a_folder_that_is_not_beir_fails_clearly(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli_app, ["eval", "beir", str(tmp_path)])
    assert result.exit_code != 0
    assert "not a BEIR dataset" in result.output and "corpus.jsonl" in result.output


@pytest.mark.parametrize("fusion", ["rrf", "zscore"])
def test_search_command_json(evaluated: tuple[Path, str], fusion: str) -> None:
    work, _ = evaluated
    result = CliRunner().invoke(cli_app, ["--home", str(work), "search", "automobile that steers itself",
                                          "-k", "3", "--json", "--fusion", fusion])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["mode"] == "hybrid" and len(data["hits"]) == 3
    assert data["hits"][0]["title"] == "Autonomous driving motion planning"
    assert data["hits"][0]["score"] >= data["hits"][1]["score"] >= data["hits"][2]["score"]


def test_search_command_refuses_an_unknown_fusion(evaluated: tuple[Path, str]) -> None:
    work, _ = evaluated
    result = CliRunner().invoke(cli_app, ["--home", str(work), "search", "robots", "--fusion", "max"])
    assert result.exit_code == 2 and "rrf or zscore" in result.output
