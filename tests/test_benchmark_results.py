"""Benchmark results are data: every run leaves a JSON record, and RESULTS.md is generated from them."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_results_md_is_what_the_records_give() -> None:
    report = load("report")
    expected = report.render(report.load_records())
    assert (BENCHMARKS / "RESULTS.md").read_text(encoding="utf-8") == expected, \
        "benchmarks/RESULTS.md is out of date: run `make results`"


def test_every_benchmark_script_saves_a_record() -> None:
    helpers = {"record", "report", "diversity_fast", "diversity_metrics", "foryou_data", "standins",
               "snapshot_app"}
    scripts = [p for p in BENCHMARKS.glob("*.py") if p.stem not in helpers]
    assert scripts
    silent = [p.name for p in scripts if "save_record(" not in p.read_text(encoding="utf-8")]
    assert not silent, f"benchmarks that print figures without saving a record: {silent}"


def test_a_record_carries_commit_machine_and_command_and_the_newest_one_is_shown(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    record, report = load("record"), load("report")
    monkeypatch.setattr(sys, "argv", ["benchmarks/demo.py", "--papers", "10"])
    first = record.save_record("demo", [{"mode": "bm25", "p50_ms": 2.5}], title="A demo.",
                               directory=tmp_path)
    data = json.loads(first.read_text())
    assert data["command"].endswith("benchmarks/demo.py --papers 10")
    assert len(data["git"]["sha"]) == 40 and isinstance(data["git"]["dirty"], bool)
    assert data["machine"]["cores"] >= 1 and len(data["machine"]["load_avg"]) == 3
    assert data["machine"]["cpu"]
    newer = dict(data, recorded_at="2999-01-01T00:00:00+00:00", rows=[{"mode": "bm25", "p50_ms": 1.5}])
    (tmp_path / "demo" / "later.json").write_text(json.dumps(newer))
    text = report.render(report.load_records(tmp_path))
    assert "## demo" in text and "A demo." in text and "--papers 10" in text
    assert "| bm25 | 1.5 |" in text and "2.5" not in text.split("## demo")[1]
