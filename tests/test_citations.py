"""Citations from OpenAlex: `paperscope ingest citations` against a local server playing recorded-shape
OpenAlex answers — batched DOI lookups, resuming after a stop, the paper page's prior / derivative lists."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from typer.testing import CliRunner, Result

from paperscope.cli import app as cli_app
from paperscope.settings import Settings
from paperscope.store import open_database
from paperscope.web.app import create_app
from paperscope.web.app_state import app_state
from tests.httpfixture import Reply, ScriptedServer, cli_env
from tests.support.web_data import load_library


@pytest.fixture
def store(settings: Settings) -> Iterator[sa.Engine]:
    engine = open_database(settings.db_url)
    load_library(engine)
    yield engine
    engine.dispose()


def run(settings: Settings, server: ScriptedServer, *args: str) -> Result:
    env = {**cli_env(settings.home, settings.db_url, server), "PAPERSCOPE_OPENALEX_URL": server.url,
           "PAPERSCOPE_OPENALEX_MAILTO": "admin@example.org"}
    return CliRunner().invoke(cli_app, ["ingest", "citations", *args], env=env)


def dois(request_filter: str) -> list[str]:
    assert request_filter.startswith("doi:")
    return request_filter[4:].split("|")


def test_ingest_resumes_and_the_paper_page_lists_citations(settings: Settings, remote_api: ScriptedServer,
                                                          store: sa.Engine) -> None:
    remote_api.play(Reply.fixture("openalex/works_page1.json"))
    first = run(settings, remote_api, "--limit", "5")
    assert first.exit_code == 0, first.output
    assert "5 papers looked up, 4 found in OpenAlex" in first.output
    asked = remote_api.requests[0]
    assert asked.path == "/works" and asked.params["mailto"] == "admin@example.org"
    assert asked.params["select"] == "id,doi,cited_by_count,referenced_works"
    first_five = ("2503.10001", "2503.10002", "2503.20001", "2503.20002", "2503.40001")
    assert dois(asked.params["filter"]) == [f"10.48550/arxiv.{i}" for i in first_five]
    # A second run continues after the fifth paper: the other 13 papers in one request.
    remote_api.play(Reply.fixture("openalex/works_page2.json"))
    second = run(settings, remote_api)
    assert second.exit_code == 0, second.output
    assert "13 papers looked up, 1 found" in second.output
    rest = dois(remote_api.requests[1].params["filter"])
    assert len(rest) == 13 and rest[0] == "10.48550/arxiv.hep-th/9901001"
    assert run(settings, remote_api).output.count("0 papers looked up") == 1  # nothing left: no request
    assert len(remote_api.requests) == 2

    app = create_app(settings, cache_seconds=0)
    client = TestClient(app)
    attention = client.get("/papers/2503.10001?format=json").json()["citations"]
    assert attention["cited_by_count"] == 40 and attention["openalex_id"] == "W4100000001"
    assert attention["prior"] == [] and attention["references_count"] == 1
    assert [p["id"] for p in attention["derivative"]] == ["2503.40001", "2503.20002"]
    late = client.get("/papers/2503.40001?format=json").json()["citations"]
    assert [p["id"] for p in late["prior"]] == ["2503.10001", "2503.20002"]  # most cited first
    assert late["references_count"] == 2  # a reference listed twice counts once
    assert [p["id"] for p in late["derivative"]] == ["hep-th/9901001"]
    page = client.get("/papers/2503.40001").text
    assert "Cited by 2 works, cites 2" in page and "Cites, in this library (2)" in page
    unknown = client.get("/papers/2503.10002?format=json").json()["citations"]
    assert unknown["cited_by_count"] is None
    assert "<h2>Citations</h2>" not in client.get("/papers/2503.10002").text
    app_state(app).engine.dispose()

    # --restart looks every paper up again and replaces what was stored.
    remote_api.play(Reply(b'{"meta": {}, "results": []}', content_type="application/json"))
    again = run(settings, remote_api, "--restart", "--limit", "3")
    assert again.exit_code == 0 and "3 papers looked up, 0 found" in again.output


def test_a_failing_server_stops_with_a_clear_message_and_resumes(settings: Settings,
                                                                 remote_api: ScriptedServer,
                                                                 store: sa.Engine) -> None:
    remote_api.play(Reply(b'{"error": "Invalid query parameters"}', status=400,
                          content_type="application/json"))
    failed = run(settings, remote_api, "--limit", "5")
    assert failed.exit_code == 1
    assert "OpenAlex answered HTTP 400" in " ".join(failed.output.split())
    remote_api.play(Reply.fixture("openalex/works_page1.json"))
    resumed = run(settings, remote_api, "--limit", "5")
    assert resumed.exit_code == 0 and "4 found" in resumed.output
    # nothing was skipped
    assert dois(remote_api.requests[1].params["filter"])[0] == "10.48550/arxiv.2503.10001"


def test_search_sorted_by_citations(settings: Settings, remote_api: ScriptedServer, store: sa.Engine) -> None:
    remote_api.play(Reply.fixture("openalex/works_page1.json"), Reply.fixture("openalex/works_page2.json"))
    assert run(settings, remote_api).exit_code == 0
    app = create_app(settings, cache_seconds=0)
    client = TestClient(app)
    # bm25: no vector index here. Every paper mentioning "retrieval" or "attention", most cited first;
    # papers OpenAlex does not know come last, in relevance order.
    by_relevance = client.get("/api/search", params={"q": "retrieval attention", "mode": "bm25"}).json()
    cited = client.get("/api/search", params={"q": "retrieval attention", "mode": "bm25",
                                              "sort": "citations"}).json()
    assert cited["sort"] == "citations" and cited["total"] == by_relevance["total"]
    counts = [r["cited_by_count"] for r in cited["results"]]
    known = [c for c in counts if c is not None]
    assert known == sorted(known, reverse=True) and counts[:len(known)] == known
    assert {r["id"] for r in cited["results"]} == {r["id"] for r in by_relevance["results"]}
    assert cited["results"][0]["id"] == "2503.10001"  # 40 citations
    page = client.get("/search", params={"q": "retrieval attention", "mode": "bm25", "sort": "citations"})
    assert "cited by 40" in page.text and '<option value="citations" selected>' in page.text
    assert client.get("/api/search", params={"q": "x", "sort": "stars"}).status_code == 422
    app_state(app).engine.dispose()
