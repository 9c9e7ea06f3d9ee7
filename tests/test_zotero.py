"""`paperscope library sync-zotero` against a local server answering like the Zotero Web API: adds only
what the group lacks (matched by arXiv id), in one write with a write token, and nothing on a re-run."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner, Result

from paperscope.cli import app as cli_app
from paperscope.model import Paper
from paperscope.settings import Settings
from paperscope.store import get_paper, open_database, upsert_papers
from paperscope.store import library as lib
from tests.community_support import add_user
from tests.httpfixture import FIXTURES, Reply, ScriptedServer, cli_env
from tests.support.web_data import load_library

KEY = "zotero-key-123"


@pytest.fixture
def store(settings: Settings) -> Iterator[sa.Engine]:
    engine = open_database(settings.db_url)
    load_library(engine)
    upsert_papers(engine, [Paper(title="A journal paper", doi="10.1000/j.1", source="test")])
    reader = add_user(engine, "reader")
    for paper_id, tags in (("2503.10001", []), ("2503.20002", ["retrieval"]), ("hep-th/9901001", []),
                           ("doi:10.1000/j.1", [])):
        paper = get_paper(engine, paper_id)
        assert paper is not None and paper.rowid is not None
        lib.save_paper(engine, reader.id, paper.rowid, tags)
    yield engine
    engine.dispose()


def run(settings: Settings, server: ScriptedServer, *args: str) -> Result:
    env = {**cli_env(settings.home, settings.db_url, server), "PAPERSCOPE_ZOTERO_URL": server.url,
           "PAPERSCOPE_ZOTERO_API_KEY": KEY}
    command = ["library", "sync-zotero", "--user", "reader", "--group", "555", *args]
    return CliRunner().invoke(cli_app, command, env=env)


def listing(body: bytes, total: int) -> Reply:
    return Reply(body, content_type="application/json", headers={"Total-Results": str(total)})


def test_sync_adds_only_missing_papers_and_is_idempotent(settings: Settings, remote_api: ScriptedServer,
                                                         store: sa.Engine) -> None:
    created = {"successful": {"0": {"key": "NEW00001"}, "1": {"key": "NEW00002"}},
               "success": {"0": "NEW00001", "1": "NEW00002"}, "unchanged": {}, "failed": {}}
    remote_api.play(listing((FIXTURES / "zotero" / "items_page.json").read_bytes(), 2),
                Reply(json.dumps(created).encode(), content_type="application/json"))
    first = run(settings, remote_api)
    assert first.exit_code == 0, first.output
    said = " ".join(first.output.split())
    assert "4 papers: 2 added, 1 already in the group (2 items before)" in said
    assert "doi:10.1000/j.1: no arXiv id" in said
    listed, posted = remote_api.requests
    assert listed.method == "GET" and listed.path == "/groups/555/items" and listed.params["start"] == "0"
    assert listed.headers["Zotero-API-Key"] == KEY and listed.headers["Zotero-API-Version"] == "3"
    assert posted.method == "POST" and posted.path == "/groups/555/items"
    assert len(posted.headers["Zotero-Write-Token"]) == 32
    items = json.loads(posted.body)
    assert sorted(i["archiveID"] for i in items) == ["arXiv:2503.20002", "arXiv:hep-th/9901001"]
    sparse = next(i for i in items if i["archiveID"] == "arXiv:2503.20002")
    assert sparse["itemType"] == "preprint" and sparse["title"] == "Sparse Retrieval Revisited"
    assert sparse["creators"] == [{"creatorType": "author", "name": "Karen Sparck Jones"}]
    assert sparse["url"] == "https://arxiv.org/abs/2503.20002" and sparse["tags"] == [{"tag": "retrieval"}]

    # Run again: the group now has all three (as Zotero lists them) -> nothing is written.
    now = json.loads((FIXTURES / "zotero" / "items_page.json").read_text())
    now += [{"key": key, "data": {"itemType": "preprint", "title": t, "url": url, "extra": extra}}
            for key, t, url, extra in (("NEW00001", "Old", "", "arXiv: hep-th/9901001"),
                                       ("NEW00002", "Sparse", "https://arxiv.org/abs/2503.20002", ""))]
    remote_api.play(listing(json.dumps(now).encode(), 4))
    second = run(settings, remote_api)
    assert second.exit_code == 0, second.output
    assert "4 papers: 0 added, 3 already in the group (4 items before)" in " ".join(second.output.split())
    assert len(remote_api.requests) == 3  # one listing, no write


def test_a_key_without_access_is_refused_clearly(settings: Settings, remote_api: ScriptedServer,
                                                  store: sa.Engine) -> None:
    remote_api.play(Reply(b"Forbidden", status=403, content_type="text/plain"))
    result = run(settings, remote_api)
    assert result.exit_code == 1
    assert "check the API key's access to the group (HTTP 403)" in " ".join(result.output.split())
