"""arXiv OAI-PMH harvesting against recorded arXivRaw responses served on 127.0.0.1."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date

import pytest
from typer.testing import CliRunner, Result

from paperscope.cli import app
from paperscope.model import Paper, Skipped
from paperscope.settings import Settings
from paperscope.sources.arxiv_oai import OaiCheckpoint, OaiError, parse_list_records, state_name
from paperscope.sources.http import SourceError
from paperscope.store import count_papers, get_paper, get_state, open_database, set_state
from tests.httpfixture import FIXTURES, Reply, ScriptedServer, cli_env, scripted_server

# The backend matters here (tests/conftest.py): every store-backed test runs on SQLite and PostgreSQL.
pytestmark = pytest.mark.both_backends

TOKEN = "7361045|1001"


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with scripted_server() as s:
        yield s


def harvest(settings: Settings, server: ScriptedServer, *args: str, interval: float = 0.0) -> Result:
    env = cli_env(settings.home, settings.db_url, server, interval)
    return CliRunner().invoke(app, ["ingest", "arxiv", "--set", "cs", *args], env=env)


def said(result: Result) -> str:
    return " ".join(result.output.split())  # rich wraps long lines at 80 columns off a terminal


def checkpoint(settings: Settings) -> OaiCheckpoint | None:
    return OaiCheckpoint.from_json(get_state(open_database(settings.db_url), state_name("cs")))


# --- parsing -----------------------------------------------------------------------------------------

def test_arxivraw_version_history_and_fields() -> None:
    page = parse_list_records((FIXTURES / "oai/page1.xml").read_bytes(), "page 1")
    papers = [r for r in page.records if isinstance(r, Paper)]
    assert len(page.records) == 2 and len(papers) == 2  # the deleted record is simply left out
    p = papers[0]
    assert (p.arxiv_id, p.version) == ("2405.19504", 3)
    assert (p.published, p.updated) == (date(2024, 5, 29), date(2026, 11, 17))
    assert p.title == "Late Interaction Retrieval for Scientific Literature"
    assert p.authors == ("Grace Hopper", "Ada Lovelace", "Alan M. Turing")
    assert p.categories == ("cs.CL", "cs.AI", "cs.IR") and p.primary_category == "cs.CL"
    assert p.abstract.startswith("We study late-interaction retrieval over") and "&" in p.abstract
    assert (p.doi, p.journal_ref) == ("10.18653/v1/2026.acl-long.7", "Proc. ACL 2026, 101-124")
    assert p.license == "http://creativecommons.org/licenses/by/4.0/" and p.source == "arxiv-oai"
    # A replacement was announced long ago: listed on its first version's day, not today's datestamp.
    assert p.listed == date(2024, 5, 29)
    new = papers[1]
    assert (new.version, new.listed, new.categories) == (1, date(2026, 11, 19), ("cs.LG", "stat.ML"))
    assert (page.token, page.complete_list_size, page.max_datestamp) == (TOKEN, 5, "2026-11-19")


def test_bad_record_is_skipped_with_where_and_why() -> None:
    page = parse_list_records((FIXTURES / "oai/page2.xml").read_bytes(), "page 2")
    skipped = [r for r in page.records if isinstance(r, Skipped)]
    assert len(skipped) == 1 and "2611.02001" in skipped[0].where and skipped[0].reason == "missing title"
    old = next(r for r in page.records if isinstance(r, Paper) and r.arxiv_id == "cs/9901001")
    assert old.authors == ("Donald E. Knuth",) and old.version == 2
    assert page.token is None  # an empty resumptionToken ends the list


def test_oai_errors_and_malformed_xml() -> None:
    empty = parse_list_records((FIXTURES / "oai/no_records.xml").read_bytes(), "p")
    assert empty.no_records and empty.records == [] and empty.token is None
    with pytest.raises(OaiError, match="noSetHierarchy"):
        parse_list_records((FIXTURES / "oai/bad_argument.xml").read_bytes(), "p")
    with pytest.raises(SourceError, match="malformed XML from page 2"):
        parse_list_records((FIXTURES / "oai/malformed.xml").read_bytes(), "page 2")
    with pytest.raises(SourceError, match="malformed XML"):
        parse_list_records((FIXTURES / "oai/page1.xml").read_bytes()[:1500], "p")  # truncated body


# --- harvesting into the store (both backends) -------------------------------------------------------

def test_multi_page_harvest_is_polite_and_incremental(settings: Settings, server: ScriptedServer) -> None:
    server.play(Reply(b"Retry later", 503, headers={"Retry-After": "1"}),
                Reply.fixture("oai/page1.xml"), Reply.fixture("oai/page2.xml"))
    result = harvest(settings, server, "--from", "2026-11-18", interval=0.2)
    assert result.exit_code == 0, result.output
    assert "4 papers read: 4 new" in said(result) and "1 skipped" in said(result)
    assert "2611.02001" in said(result) and "missing title" in said(result)
    first, again, second = server.requests
    assert first.params == {"verb": "ListRecords", "metadataPrefix": "arXivRaw", "set": "cs",
                            "from": "2026-11-18"}
    assert again.params == first.params and again.at - first.at >= 1.0  # Retry-After honoured
    assert second.params == {"verb": "ListRecords", "resumptionToken": TOKEN}
    assert min(server.gaps()) >= 0.2
    engine = open_database(settings.db_url)
    assert count_papers(engine) == 4
    stored = get_paper(engine, "2405.19504")
    assert stored and stored.version == 3 and stored.published == date(2024, 5, 29)
    cp = checkpoint(settings)
    assert cp and cp.complete and cp.token is None and cp.datestamp == "2026-11-20"

    # Next run without --from continues from the last datestamp; nothing new is an empty result.
    server.play(Reply.fixture("oai/no_records.xml"))
    result = harvest(settings, server)
    assert result.exit_code == 0, result.output
    assert server.requests[-1].params["from"] == "2026-11-20"
    assert "0 papers read" in said(result)

    # Harvesting the same range again changes nothing and duplicates nothing.
    server.play(Reply.fixture("oai/page1.xml"), Reply.fixture("oai/page2.xml"))
    result = harvest(settings, server, "--from", "2026-11-18")
    assert result.exit_code == 0 and "4 unchanged" in said(result)
    assert count_papers(engine) == 4


def test_malformed_page_writes_nothing_of_it_and_keeps_the_checkpoint(
        settings: Settings, server: ScriptedServer) -> None:
    server.play(Reply.fixture("oai/page1.xml"), Reply.fixture("oai/malformed.xml"))
    result = harvest(settings, server, "--from", "2026-11-18")
    assert result.exit_code == 2
    assert "malformed XML from OAI page 2" in said(result) and "run the same command again" in said(result)
    engine = open_database(settings.db_url)
    assert count_papers(engine) == 2  # page 1 only; not one record of the broken page
    cp = checkpoint(settings)
    assert cp and not cp.complete and cp.token == TOKEN and cp.datestamp == "2026-11-19"

    # The server is fixed; the same command picks up at the saved token.
    server.play(Reply.fixture("oai/page2.xml"))
    result = harvest(settings, server, "--from", "2026-11-18")
    assert result.exit_code == 0, result.output
    assert server.requests[-1].params == {"verb": "ListRecords", "resumptionToken": TOKEN}
    assert count_papers(engine) == 4 and (cp := checkpoint(settings)) and cp.complete


def test_network_failure_is_reported_and_checkpoint_survives(
        settings: Settings, server: ScriptedServer) -> None:
    body = (FIXTURES / "oai/page2.xml").read_bytes()
    server.play(Reply.fixture("oai/page1.xml"), *[Reply(body, cut_at=500)] * 4)
    result = harvest(settings, server, "--from", "2026-11-18")
    assert result.exit_code == 2
    assert "cannot fetch" in said(result) and "RemoteProtocolError" in said(result)
    assert count_papers(open_database(settings.db_url)) == 2
    assert (cp := checkpoint(settings)) and cp.token == TOKEN


def test_killed_harvest_resumes_at_its_checkpoint(settings: Settings, server: ScriptedServer) -> None:
    # Page 2 hangs; the harvester is killed -9 while waiting for it, as a crash or an impatient user would.
    server.play(Reply.fixture("oai/page1.xml"), Reply.fixture("oai/page2.xml", delay=60))
    env = dict(os.environ, **cli_env(settings.home, settings.db_url, server))
    proc = subprocess.Popen([sys.executable, "-m", "paperscope", "ingest", "arxiv", "--set", "cs",
                             "--from", "2026-11-18"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while len(server.requests) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    assert len(server.requests) == 2
    assert (cp := checkpoint(settings)) and cp.token == TOKEN and not cp.complete

    server.play(Reply.fixture("oai/page2.xml"))
    result = harvest(settings, server)  # no --from: resume the unfinished harvest
    assert result.exit_code == 0, result.output
    assert "resuming" in said(result)
    assert server.requests[-1].params == {"verb": "ListRecords", "resumptionToken": TOKEN}
    assert count_papers(open_database(settings.db_url)) == 4


def test_expired_token_restarts_the_whole_range(
        settings: Settings, server: ScriptedServer) -> None:
    engine = open_database(settings.db_url)
    set_state(engine, state_name("cs"), OaiCheckpoint("cs", "2026-11-01", "2026-11-30", TOKEN,
                                                      "2026-11-19").to_json())
    server.play(Reply.fixture("oai/bad_token.xml"), Reply.fixture("oai/page2.xml"))
    result = harvest(settings, server)
    assert result.exit_code == 0, result.output
    expired, restart = server.requests
    assert expired.params == {"verb": "ListRecords", "resumptionToken": TOKEN}
    # The same range again: lists need not come in datestamp order, so records older than the newest
    # one stored (2026-11-19) may still be unseen.
    assert restart.params == {"verb": "ListRecords", "metadataPrefix": "arXivRaw", "set": "cs",
                              "from": "2026-11-01", "until": "2026-11-30"}
    assert "restart" in said(result) and count_papers(engine) == 2


def test_oai_error_and_bad_dates_fail_clearly(settings: Settings, server: ScriptedServer) -> None:
    server.play(Reply.fixture("oai/bad_argument.xml"))
    result = harvest(settings, server, "--from", "2026-11-18")
    assert result.exit_code == 2 and "OAI-PMH error noSetHierarchy" in said(result)
    result = harvest(settings, server, "--from", "18/11/2026")
    assert result.exit_code == 2 and "--from should be a date" in said(result)
    assert len(server.requests) == 1
