"""Hugging Face daily papers: recorded `/api/daily_papers` responses served on 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from paperscope.cli import app
from paperscope.model import Paper
from paperscope.settings import Settings
from paperscope.sources.hf_daily import parse_item
from paperscope.store import count_papers, get_paper, open_database, upsert_papers
from tests.httpfixture import FIXTURES, Reply, ScriptedServer, cli_env, scripted_server

# The backend matters here (tests/conftest.py): every store-backed test runs on SQLite and PostgreSQL.
pytestmark = pytest.mark.both_backends


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with scripted_server() as s:
        yield s


def run(settings: Settings, server: ScriptedServer, *args: str) -> Result:
    env = cli_env(settings.home, settings.db_url, server)
    return CliRunner().invoke(app, ["ingest", "hf-daily", *args], env=env)


def said(result: Result) -> str:
    return " ".join(result.output.split())


def day_items(name: str) -> list[dict[str, Any]]:
    return json.loads((FIXTURES / "hf" / name).read_text())


def test_item_fields_as_paperinfo_reads_them() -> None:
    p = parse_item(day_items("2026-11-20.json")[0], date(2026, 11, 20))
    assert (p.arxiv_id, p.source) == ("2405.19504", "hf-daily")
    assert p.title == "Late Interaction Retrieval for Scientific Literature"
    assert p.authors == ("Grace Hopper", "Ada Lovelace") and p.published == date(2024, 5, 29)
    assert p.abstract == "We study late-interaction retrieval over scientific abstracts."
    assert p.listed == date(2026, 11, 20)  # the daily page's date
    hf = p.hf
    assert hf is not None and hf.upvotes == 42 and hf.submitted_by == "akhaliq"
    assert hf.submitted_at == datetime(2026, 11, 20, 4, 12, 30, 518000, tzinfo=UTC)
    assert (hf.github_repo, hf.github_stars) == ("https://github.com/example/late-interaction", 128)
    assert hf.project_page == "https://example.org/late-interaction"
    assert hf.keywords == ("late interaction", "ColBERT", "multi-vector retrieval")
    assert hf.summary == "Multi-vector late interaction improves scientific retrieval."
    with pytest.raises(ValueError, match="missing paper id"):
        parse_item(day_items("2026-11-20.json")[2], date(2026, 11, 20))


def test_date_range_ingest(settings: Settings, server: ScriptedServer) -> None:
    server.play(Reply.fixture("hf/2026-11-20.json"), Reply.fixture("hf/2026-11-21.json"))
    result = run(settings, server, "--date", "2026-11-20", "--to", "2026-11-21")
    assert result.exit_code == 0, result.output
    assert "3 papers read: 3 new" in said(result) and "1 skipped" in said(result)
    assert "HF daily 2026-11-20 item 3: missing paper id" in said(result)
    assert [(r.path, r.params) for r in server.requests] == [
        ("/api/daily_papers", {"date": "2026-11-20", "p": "0", "limit": "50"}),
        ("/api/daily_papers", {"date": "2026-11-21", "p": "0", "limit": "50"}),
    ]
    engine = open_database(settings.db_url)
    p = get_paper(engine, "2611.07777")
    assert p and p.listed == date(2026, 11, 21) and p.hf and p.hf.upvotes == 15 and p.hf.github_stars == 12
    q = get_paper(engine, "2405.19504")
    assert q and q.hf and q.hf.submitted_by == "akhaliq" and q.hf.keywords[0] == "late interaction"


def test_hf_data_joins_the_arxiv_record_and_follows_new_upvotes(
        settings: Settings, server: ScriptedServer) -> None:
    engine = open_database(settings.db_url)
    upsert_papers(engine, [Paper(arxiv_id="2405.19504", version=3, title="Late Interaction Retrieval (arXiv)",
                                 abstract="The full arXiv abstract.", categories=("cs.CL",),
                                 published=date(2024, 5, 29), listed=date(2024, 5, 30), source="arxiv-oai")])
    items = day_items("2026-11-20.json")[:1]
    server.play(Reply(json.dumps(items).encode(), content_type="application/json"))
    assert run(settings, server, "--date", "2026-11-20").exit_code == 0
    items[0]["paper"]["upvotes"] = 99
    server.play(Reply(json.dumps(items).encode(), content_type="application/json"))
    result = run(settings, server, "--date", "2026-11-20")
    assert result.exit_code == 0 and "1 updated" in said(result)
    p = get_paper(engine, "2405.19504")
    assert p and p.hf and p.hf.upvotes == 99
    # arXiv's metadata, listing date and provenance stay; HF adds to them.
    assert (p.title, p.abstract) == ("Late Interaction Retrieval (arXiv)", "The full arXiv abstract.")
    assert p.categories == ("cs.CL",)
    assert p.listed == date(2024, 5, 30) and p.source == "arxiv-oai"
    assert count_papers(engine) == 1


def test_empty_day_bad_json_and_bad_range(settings: Settings, server: ScriptedServer) -> None:
    server.play(Reply(b"[]", content_type="application/json"))
    result = run(settings, server, "--date", "2026-11-22")
    assert result.exit_code == 0 and "0 papers read" in said(result)
    server.play(Reply(b'[{"paper": {"id": "2611.1', content_type="application/json"))
    result = run(settings, server, "--date", "2026-11-22")
    assert result.exit_code == 2 and "malformed JSON from HF daily papers 2026-11-22 page 0" in said(result)
    result = run(settings, server, "--date", "2026-11-22", "--to", "2026-11-01")
    assert result.exit_code == 2 and "--to 2026-11-01 is before --date 2026-11-22" in said(result)
    assert len(server.requests) == 2
