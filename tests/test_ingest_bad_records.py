"""One bad record never stops an ingest (both backends): absurd version numbers, NUL and other control
characters, `javascript:` links, a truncated gzip — each bad record is skipped with where and why, and
everything else is stored."""

from __future__ import annotations

import gzip
import json
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from paperscope.cli import app
from paperscope.model import Paper, Skipped, checked_paper, http_url
from paperscope.settings import Settings
from paperscope.sources.arxiv_oai import OaiCheckpoint, state_name
from paperscope.sources.hf_daily import parse_item
from paperscope.sources.http import SourceError
from paperscope.sources.jsonl import JsonlSource
from paperscope.store import count_papers, get_paper, get_state, ingest_records, open_database
from tests.httpfixture import FIXTURES, Reply, cli_env, scripted_server
from tests.support.jsonl import COMPACT, run_cli, write_lines

# The backend matters here (tests/conftest.py): every store-backed test runs on SQLite and PostgreSQL.
pytestmark = pytest.mark.both_backends

HUGE = "99999999999999999999"


def test_jsonl_bad_records_are_skipped_and_every_other_one_is_stored(tmp_path: Path, db_url: str) -> None:
    lines = [json.dumps(dict(COMPACT, id=f"2501.{i:05d}")) for i in range(300)]
    lines[10] = json.dumps(dict(COMPACT, id=f"2612.09999v{HUGE}"))
    lines[20] = json.dumps(dict(COMPACT, id="2612.09998", versions=[
        {"version": f"v{HUGE}", "created": "Mon, 2 Apr 2007 19:18:42 GMT"}]))
    lines[30] = json.dumps(dict(COMPACT, id="2501.00030", title="Nul\u0000 and\u0007 bell",
                                abstract="Form\u000cfeed \u0000abstract", authors=["Eve\u0000"]))
    path = write_lines(tmp_path / "mixed.jsonl", lines)
    res = run_cli(tmp_path / "home", "ingest", "jsonl", str(path), db_url=db_url)
    assert res.returncode == 0, res.stderr
    out = " ".join(res.stderr.split())
    assert "mixed.jsonl:11" in out and "mixed.jsonl:21" in out and "out of range" in out
    assert "298 papers read: 298 new" in out and "2 skipped" in out
    engine = open_database(db_url)
    assert count_papers(engine) == 298
    nul = get_paper(engine, "2501.00030")
    assert nul is not None and nul.title == "Nul and bell" and nul.authors == ("Eve",)
    assert nul.abstract == "Form feed abstract"


@pytest.mark.slow
def test_truncated_gzip_stores_every_complete_line_then_says_it_ends_early(tmp_path: Path,
                                                                            db_url: str) -> None:
    lines = [json.dumps(dict(COMPACT, id=f"2501.{i:05d}", abstract=f"Abstract number {i} " * 8))
             for i in range(9000)]
    full = gzip.compress(("\n".join(lines) + "\n").encode())
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(full[: len(full) * 2 // 3])
    readable: list[Paper | Skipped] = []
    with pytest.raises(SourceError):
        readable.extend(JsonlSource(path))
    assert len(readable) % 2000 != 0  # some lines beyond the last whole batch of the ingest
    res = run_cli(tmp_path / "home", "ingest", "jsonl", str(path), db_url=db_url)
    out = " ".join(res.stderr.split())
    assert res.returncode == 2, out
    assert f"cut.jsonl.gz ends early after line {len(readable)}" in out
    assert f"{len(readable)} papers read" in out
    assert count_papers(open_database(db_url)) == len(readable)


def test_oai_record_with_an_absurd_version_is_skipped_and_the_harvest_moves_on(settings: Settings) -> None:
    page = (FIXTURES / "oai/page1.xml").read_bytes().replace(b'<version version="v3">',
                                                             f'<version version="v{HUGE}">'.encode(), 1)
    with scripted_server() as server:
        server.play(Reply(page), Reply.fixture("oai/page2.xml"))
        env = cli_env(settings.home, settings.db_url, server, 0.0)
        result = CliRunner().invoke(app, ["ingest", "arxiv", "--set", "cs", "--from", "2026-11-18"], env=env)
    out = " ".join(result.output.split())
    assert result.exit_code == 0, out
    assert "oai:arXiv.org:2405.19504" in out and "out of range" in out
    engine = open_database(settings.db_url)
    assert get_paper(engine, "2405.19504") is None and count_papers(engine) == 3
    checkpoint = OaiCheckpoint.from_json(get_state(engine, state_name("cs")))
    assert checkpoint is not None and checkpoint.complete


def test_hf_record_links_must_be_http_and_versions_in_range() -> None:
    item = {"paper": {"id": "2511.00001", "title": "T", "githubRepo": "javascript:alert(document.domain)//",
                      "projectPage": " JaVa\tScRiPt:alert(1)", "upvotes": 3}, "publishedAt": None}
    paper = parse_item(item, date(2026, 11, 20))
    assert paper.hf is not None and paper.hf.github_repo is None and paper.hf.project_page is None
    ok = parse_item({"paper": {"id": "2511.00001", "title": "T", "githubRepo": "https://github.com/a/b",
                               "projectPage": "HTTP://example.org/p"}}, date(2026, 11, 20))
    assert ok.hf is not None and ok.hf.github_repo == "https://github.com/a/b"
    assert ok.hf.project_page == "HTTP://example.org/p"
    with pytest.raises(ValueError, match="out of range"):
        parse_item({"paper": {"id": f"2511.00001v{HUGE}", "title": "T"}}, date(2026, 11, 20))
    with pytest.raises(ValueError, match="out of range"):
        parse_item({"paper": {"id": "2511.00001", "title": "T", "upvotes": 2**40}}, date(2026, 11, 20))


@pytest.mark.parametrize("url", ["javascript:alert(1)", "JAVASCRIPT:alert(1)", "\x01javascript:alert(1)",
                                 "java\nscript:alert(1)", " vbscript:x", "data:text/html,<script>",
                                 "&#106;avascript:alert(1)", "//evil.example/x", "/relative", "http://",
                                 "https:evil.example"])
def test_only_absolute_http_urls_pass(url: str) -> None:
    assert http_url(url) is None


def test_checked_paper_leaves_clean_papers_alone() -> None:
    paper = Paper(title="Clean", abstract="Text\twith tab", arxiv_id="2501.00001", version=3)
    assert checked_paper(paper) is paper


def test_a_record_the_store_refuses_is_skipped_and_its_batch_still_stored(db_url: str) -> None:
    # A source that does not check its records (a plug-in, an older parser): the store says no to one
    # value; that paper is skipped with the store's reason, the rest of its batch is written.
    engine = open_database(db_url)
    papers = [Paper(title=f"Paper {n}", arxiv_id=f"2501.{n:05d}", version=1, source="test")
              for n in range(50)]
    papers[7] = Paper(title="Absurd", arxiv_id="2501.00007", version=2**63, source="test")
    refused: list[Skipped] = []
    report = ingest_records(engine, papers, batch_size=20, on_skip=refused.append)
    assert report.counts.inserted == 49 and count_papers(engine) == 49
    assert [s.where for s in refused] == ["2501.00007"] and "refused by the store" in refused[0].reason
    engine.dispose()
