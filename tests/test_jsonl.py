"""JSONL snapshots: both formats, gzip, bad lines reported and skipped, kill -9 safe."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from paperscope.model import Paper, Skipped
from paperscope.sources.http import SourceError
from paperscope.sources.jsonl import JsonlSource, parse_record, read_jsonl
from paperscope.store import count_papers, get_paper, open_database
from tests.support.data import ARXIV_JSONL
from tests.support.jsonl import COMPACT, run_cli, write_lines

# The backend matters here (tests/conftest.py): every store-backed test runs on SQLite and PostgreSQL.
pytestmark = pytest.mark.both_backends

KAGGLE = {
    "id": "0704.0001", "submitter": "Pavel Nadolsky",
    "authors": "C. Bal\\'azs, E. L. Berger, P. M. Nadolsky, C.-P. Yuan",
    "title": "Calculation of prompt diphoton production cross sections at Tevatron and\n  LHC energies",
    "comments": "37 pages, 15 figures", "journal-ref": "Phys.Rev.D76:013009,2007",
    "doi": "10.1103/PhysRevD.76.013009", "report-no": "ANL-HEP-PR-07-12", "categories": "hep-ph",
    "license": None, "abstract": "  A fully differential calculation\nin perturbative QCD.\n",
    "versions": [{"version": "v1", "created": "Mon, 2 Apr 2007 19:18:42 GMT"},
                 {"version": "v2", "created": "Tue, 24 Jul 2007 20:10:27 GMT"}],
    "update_date": "2008-11-13",
    "authors_parsed": [["Balázs", "C.", ""], ["Berger", "E. L.", ""], ["Nadolsky", "P. M.", ""],
                       ["Yuan", "C. -P.", ""]],
}


def test_kaggle_record() -> None:
    p = parse_record(KAGGLE)
    assert (p.arxiv_id, p.version) == ("0704.0001", 2)
    assert p.title.startswith("Calculation of prompt diphoton") and "\n" not in p.title
    assert p.authors[0] == "C. Balázs" and len(p.authors) == 4
    assert p.published == date(2007, 4, 2) and p.updated == date(2008, 11, 13)
    assert p.doi == "10.1103/PhysRevD.76.013009" and p.journal_ref == "Phys.Rev.D76:013009,2007"
    assert p.abstract == "A fully differential calculation in perturbative QCD."


def test_compact_record() -> None:
    p = parse_record(COMPACT)
    assert p.categories == ("cs.CV", "cs.AI") and p.listed == date(2025, 3, 18)
    assert p.authors == ("Moreno D'Incà", "Elia Peruzzo")


def test_old_style_ids() -> None:
    assert parse_record(dict(COMPACT, id="math.CO/0406594v2")).arxiv_id == "math.CO/0406594"


@pytest.mark.parametrize("gz", [False, True])
def test_bad_lines_are_reported_and_skipped(tmp_path: Path, gz: bool) -> None:
    path = write_lines(tmp_path / ("x.jsonl.gz" if gz else "x.jsonl"), [
        json.dumps(COMPACT), "{not json", json.dumps({"id": "2501.00001"}), json.dumps([1, 2]),
        json.dumps(dict(COMPACT, id="not-an-id")), json.dumps(KAGGLE),
    ], gz=gz)
    recs = list(read_jsonl(path))
    papers = [r for r in recs if isinstance(r, Paper)]
    skipped = [r for r in recs if isinstance(r, Skipped)]
    assert [p.arxiv_id for p in papers] == ["2503.11742", "0704.0001"]
    assert [s.where.rsplit(":", 1)[1] for s in skipped] == ["2", "3", "4", "5"]
    assert "missing title" in skipped[1].reason and "not an arXiv id" in skipped[3].reason


def test_truncated_gzip_keeps_what_was_read(tmp_path: Path) -> None:
    lines = [json.dumps(dict(COMPACT, id=f"2501.{i:05d}")) for i in range(2000)]
    full = gzip.compress(("\n".join(lines) + "\n").encode())
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(full[: len(full) // 2])
    recs = list(read_jsonl(path))
    assert isinstance(recs[-1], Skipped) and "ends early" in recs[-1].reason
    assert 0 < sum(isinstance(r, Paper) for r in recs) < 2000


@pytest.mark.parametrize("gz", [False, True])
def test_parallel_reading_gives_the_same_records_in_order(tmp_path: Path, gz: bool) -> None:
    lines = [json.dumps(dict(COMPACT, id=f"2501.{i:05d}")) for i in range(1300)]
    lines[7] = "{broken"
    lines[900] = json.dumps({"id": "2501.99999"})
    path = write_lines(tmp_path / ("p.jsonl.gz" if gz else "p.jsonl"), lines, gz=gz)
    serial = list(JsonlSource(path))
    source = JsonlSource(path, parallel=True)
    parallel = list(source)
    assert parallel == serial and len(parallel) == 1300
    assert source.bytes_read == source.total_bytes
    assert list(JsonlSource(path, limit=600, parallel=True)) == list(JsonlSource(path, limit=600))


@pytest.mark.slow
@pytest.mark.timeout(60)
def test_parallel_reading_waits_for_a_slow_reader(tmp_path: Path) -> None:
    # The parser fills the pipe within a second and then waits for room: a reader busy for longer than
    # that (a loaded store storing a batch) still gets every record, in order.
    lines = [json.dumps(dict(COMPACT, id=f"2501.{i:05d}")) for i in range(6000)]
    path = write_lines(tmp_path / "many.jsonl", lines)
    got: list[Paper | Skipped] = []
    for rec in JsonlSource(path, parallel=True):
        if not got:
            time.sleep(2.5)  # the reader is busy; the parser's pipe is full meanwhile
        got.append(rec)
    assert [p.arxiv_id for p in got if isinstance(p, Paper)] == [f"2501.{i:05d}" for i in range(6000)]


def test_parallel_reading_of_a_truncated_gzip_fails_after_the_whole_lines(tmp_path: Path) -> None:
    lines = [json.dumps(dict(COMPACT, id=f"2501.{i:05d}")) for i in range(2000)]
    full = gzip.compress(("\n".join(lines) + "\n").encode())
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(full[: len(full) // 2])
    got: list[Paper | Skipped] = []
    with pytest.raises(SourceError, match="ends early after line"):
        got.extend(JsonlSource(path, parallel=True))
    expected: list[Paper | Skipped] = []
    with pytest.raises(SourceError, match="ends early after line"):
        expected.extend(JsonlSource(path))
    assert got == expected and 0 < len(got) < 2000


def test_parallel_reading_whose_parser_dies_fails_instead_of_waiting(tmp_path: Path) -> None:
    lines = [json.dumps(dict(COMPACT, id=f"2501.{i:05d}")) for i in range(30_000)]
    path = write_lines(tmp_path / "big.jsonl", lines)
    got = 0
    with pytest.raises(OSError, match="stopped"):
        for _ in JsonlSource(path, parallel=True):
            got += 1
            if got == 1:
                parser = [pid for pid in _children(os.getpid())
                          if b"_parse_in_child" in Path(f"/proc/{pid}/cmdline").read_bytes()]
                assert len(parser) == 1
                os.kill(parser[0], signal.SIGKILL)
    assert 0 < got < 30_000


@pytest.mark.slow
def test_cli_ingest_summary_and_exit_codes(tmp_path: Path, db_url: str) -> None:
    good = write_lines(tmp_path / "good.jsonl", [json.dumps(COMPACT), "garbage", json.dumps(KAGGLE)])
    res = run_cli(tmp_path, "ingest", "jsonl", str(good), db_url=db_url)
    assert res.returncode == 0, res.stderr
    assert "good.jsonl:2" in res.stderr and "2 new" in res.stderr and "1 skipped" in res.stderr
    again = run_cli(tmp_path, "ingest", "jsonl", str(good), db_url=db_url)
    assert "0 new" in again.stderr and "2 unchanged" in again.stderr
    bad = write_lines(tmp_path / "bad.jsonl", ["nope", "{}"])
    assert run_cli(tmp_path, "ingest", "jsonl", str(bad), db_url=db_url).returncode == 1
    missing = run_cli(tmp_path, "ingest", "jsonl", str(tmp_path / "absent.jsonl"), db_url=db_url)
    assert missing.returncode == 2 and "no such file" in missing.stderr
    eng = open_database(db_url)
    assert count_papers(eng) == 2 and get_paper(eng, "0704.0001") is not None
    eng.dispose()


def test_limit(tmp_path: Path, engine: sa.Engine) -> None:
    lines = [json.dumps(dict(COMPACT, id=f"2501.{i:05d}")) for i in range(30)]
    path = write_lines(tmp_path / "many.jsonl", lines)
    assert sum(isinstance(r, Paper) for r in read_jsonl(path, limit=7)) == 7


# The first lines of the shared snapshot, where every line is a distinct paper (74,728 lines, 74,728
# papers in all): six of the ingest's 2,000-paper batches, killed a third of the way in.
SNAPSHOT_LINES = 12_000


def snapshot_head(path: Path, lines: int = SNAPSHOT_LINES) -> Path:
    with gzip.open(ARXIV_JSONL, "rb") as src, gzip.open(path, "wb", compresslevel=1) as dst:
        for _, line in zip(range(lines), src, strict=False):
            dst.write(line)
    return path


@pytest.mark.slow
@pytest.mark.skipif(not ARXIV_JSONL.exists(), reason="shared arXiv snapshot not present")
def test_kill_9_mid_ingest_then_rerun_matches_clean_run(tmp_path: Path, db_url: str) -> None:
    env = dict(os.environ, PAPERSCOPE_HOME=str(tmp_path), PAPERSCOPE_DATABASE_URL=db_url)
    snapshot = snapshot_head(tmp_path / "arxiv-head.jsonl.gz")
    cmd = [sys.executable, "-m", "paperscope", "ingest", "jsonl", str(snapshot)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    eng = open_database(db_url)
    deadline = time.monotonic() + 120
    while count_papers(eng) < SNAPSHOT_LINES // 3 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)
    assert proc.poll() is None, "ingest finished before it could be killed"
    helpers = _children(proc.pid)  # the process that parses the file
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partial = count_papers(eng)
    assert 0 < partial < SNAPSHOT_LINES
    deadline = time.monotonic() + 15
    while any(Path(f"/proc/{pid}").exists() and not _zombie(pid) for pid in helpers):
        assert time.monotonic() < deadline, "the parsing process outlived the killed ingest"
        time.sleep(0.1)
    subprocess.run(cmd, env=env, check=True, capture_output=True, timeout=900)
    with eng.connect() as conn:
        total = count_papers(eng)
        distinct = conn.execute(sa.text("SELECT COUNT(DISTINCT paper_id) FROM papers")).scalar_one()
        # Every stored paper is searchable: the full-text index matches the table exactly.
        if eng.dialect.name == "sqlite":
            conn.execute(sa.text("INSERT INTO papers_fts(papers_fts) VALUES ('integrity-check')"))
            unindexed = conn.execute(sa.text(
                "SELECT COUNT(*) FROM papers WHERE id NOT IN (SELECT id FROM papers_fts_docsize)")
            ).scalar_one()
            assert unindexed == 0
        else:
            indexed = conn.execute(sa.text("SELECT COUNT(*) FROM paper_search")).scalar_one()
            assert indexed == total
    assert total == distinct == SNAPSHOT_LINES
    eng.dispose()


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found.extend(int(c) for c in (task / "children").read_text().split())
    return found


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return False
