"""arXiv query API (Atom): `paperscope add` by id/URL and `ingest arxiv-query`, against recorded feeds."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest
from typer.testing import CliRunner, Result

from paperscope.cli import app
from paperscope.model import Paper
from paperscope.settings import Settings
from paperscope.sources.arxiv_api import parse_feed
from paperscope.store import count_papers, get_paper, open_database
from tests.httpfixture import FIXTURES, Reply, ScriptedServer, cli_env, scripted_server

# The backend matters here (tests/conftest.py): every store-backed test runs on SQLite and PostgreSQL.
pytestmark = pytest.mark.both_backends


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with scripted_server() as s:
        yield s


def run(settings: Settings, server: ScriptedServer, *args: str, interval: float = 0.0) -> Result:
    return CliRunner().invoke(app, list(args), env=cli_env(settings.home, settings.db_url, server, interval))


def said(result: Result) -> str:
    return " ".join(result.output.split())


def test_atom_entry_fields() -> None:
    page = parse_feed((FIXTURES / "arxiv_api/ids.xml").read_bytes(), "feed")
    assert page.total == 2 and page.entries == 2
    p = page.records[0]
    assert isinstance(p, Paper)
    assert (p.arxiv_id, p.version) == ("2405.19504", 3)  # the version comes from the id suffix
    assert (p.published, p.updated) == (date(2024, 5, 29), date(2026, 11, 17))
    assert p.title == "Late Interaction Retrieval for Scientific Literature"
    assert p.abstract == "We study late-interaction retrieval over scientific abstracts."
    assert p.authors == ("Grace Hopper", "Ada Lovelace")
    assert p.categories == ("cs.CL", "cs.AI")  # primary first, ACM class H.3.3 dropped
    assert (p.doi, p.journal_ref, p.comments) == ("10.18653/v1/2026.acl-long.7", "Proc. ACL 2026, 101-124",
                                                   "23 pages, 8 figures")
    assert p.extra["pdf"] == "http://arxiv.org/pdf/2405.19504v3"


def test_add_by_id_and_url(settings: Settings, server: ScriptedServer) -> None:
    server.play(Reply.fixture("arxiv_api/ids.xml"))
    result = run(settings, server, "add", "2405.19504", "https://arxiv.org/abs/2611.01234v1")
    assert result.exit_code == 0, result.output
    assert "2 papers read: 2 new" in said(result)
    (req,) = server.requests
    assert req.path == "/api/query"
    assert req.params == {"id_list": "2405.19504,2611.01234", "start": "0", "max_results": "2"}
    engine = open_database(settings.db_url)
    p = get_paper(engine, "2405.19504")
    assert p and p.version == 3 and p.source == "arxiv-api" and p.listed == date(2024, 5, 29)
    # Adding again refreshes, never duplicates.
    server.play(Reply.fixture("arxiv_api/ids.xml"))
    result = run(settings, server, "add", "2405.19504", "2611.01234")
    assert result.exit_code == 0 and "2 unchanged" in said(result) and count_papers(engine) == 2


def test_bad_id_is_refused_before_any_request(settings: Settings, server: ScriptedServer) -> None:
    result = run(settings, server, "add", "2405.19504", "not-a-paper")
    assert result.exit_code == 2 and "not an arXiv id or URL: 'not-a-paper'" in said(result)
    assert server.requests == []


def test_unknown_id_and_api_error(settings: Settings, server: ScriptedServer) -> None:
    server.play(Reply.fixture("arxiv_api/empty.xml"))
    result = run(settings, server, "add", "2611.99999")
    assert result.exit_code == 1 and "2611.99999: not found on arXiv" in said(result)
    server.play(Reply.fixture("arxiv_api/error.xml", status=400))
    result = run(settings, server, "add", "2611.99999")
    assert result.exit_code == 2 and "HTTP 400" in said(result)
    assert "incorrect id format for 2611.999999" in said(result)
    assert count_papers(open_database(settings.db_url)) == 0


def test_query_pages_until_total(settings: Settings, server: ScriptedServer) -> None:
    server.play(Reply.fixture("arxiv_api/search_p1.xml"), Reply.fixture("arxiv_api/search_p2.xml"))
    result = run(settings, server, "ingest", "arxiv-query", "cat:cs.IR", "--max", "10", interval=0.2)
    assert result.exit_code == 0, result.output
    assert "3 papers read: 3 new" in said(result)
    first, second = server.requests
    assert first.params == {"search_query": "cat:cs.IR", "start": "0", "max_results": "10",
                            "sortBy": "submittedDate", "sortOrder": "descending"}
    assert (second.params["start"], second.params["max_results"]) == ("2", "8")
    assert server.gaps()[0] >= 0.2
    assert count_papers(open_database(settings.db_url)) == 3


def test_query_stops_at_max(settings: Settings, server: ScriptedServer) -> None:
    server.play(Reply.fixture("arxiv_api/search_p1.xml"))
    result = run(settings, server, "ingest", "arxiv-query", "cat:cs.IR", "--max", "2")
    assert result.exit_code == 0 and "2 papers read" in said(result)
    assert len(server.requests) == 1 and server.requests[0].params["max_results"] == "2"


def test_query_malformed_feed_fails_clearly(settings: Settings, server: ScriptedServer) -> None:
    server.play(Reply((FIXTURES / "arxiv_api/search_p1.xml").read_bytes()[:900]))
    result = run(settings, server, "ingest", "arxiv-query", "cat:cs.IR")
    assert result.exit_code == 2 and "malformed XML from arXiv API search from 0" in said(result)
    assert count_papers(open_database(settings.db_url)) == 0
