"""What the cheaper rendering paths must not change: a paper page still shows its comments and
submissions (read only when the paper has some) and hides hidden papers; templates still see query
parameters named like dict methods as data."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from paperscope.settings import Settings
from paperscope.store import comments as comment_store
from paperscope.store import open_database
from paperscope.store import users as user_store
from paperscope.store import votes as vote_store
from paperscope.web.app import create_app
from paperscope.web.app_state import app_state
from tests.support.web_data import load_library

NOW = datetime(2025, 3, 20, 12, 0, tzinfo=UTC)
PAPER = "2503.40001"


@pytest.fixture
def app(settings: Settings) -> Iterator[FastAPI]:
    load_library(open_database(settings.db_url))
    app = create_app(settings, cache_seconds=0)
    yield app
    app_state(app).store_version.close()
    app_state(app).engine.dispose()


def test_paper_page_shows_comments_and_submissions_only_where_there_are_some(app: FastAPI) -> None:
    engine = app_state(app).engine
    c = TestClient(app)
    quiet = c.get(f"/papers/{PAPER}?format=json").json()
    assert (quiet["discussion"], quiet["submissions"], quiet["hidden"]) == ([], [], False)
    assert "No comments yet." in c.get(f"/papers/{PAPER}").text

    rowid = vote_store.paper_rowid(engine, PAPER)
    assert rowid is not None
    alice = user_store.create_user(engine, "alice", "alice@example.org", "x")
    comment = comment_store.add_comment(engine, rowid, alice.id, "Nice *result*", NOW)
    vote_store.submit(engine, alice.id, rowid, "alice", date(2025, 3, 21), NOW,
                      lambda trend, at, weight: (trend or 0.0) + weight, 1.0)
    busy = c.get(f"/papers/{PAPER}?format=json").json()
    assert [d["body"] for d in busy["discussion"]] == ["Nice *result*"]
    assert busy["submissions"] == [{"day": "2025-03-21", "by": "alice"}]
    assert "<em>result</em>" in c.get(f"/papers/{PAPER}").text

    comment_store.remove_comment(engine, comment.id, alice.id, NOW)  # removed comments do not count
    assert c.get(f"/papers/{PAPER}?format=json").json()["discussion"] == []

    vote_store.set_hidden(engine, rowid, True)
    assert c.get(f"/papers/{PAPER}").status_code == 404
    assert c.get("/papers/2503.99999").status_code == 404  # unknown id: still a clear 404


def test_query_parameters_named_like_dict_methods_are_kept_as_data(app: FastAPI) -> None:
    # Templates read dictionaries by key first; `params.items()` must stay the method all the same.
    r = TestClient(app).get("/?items=a&keys=b&get=c")
    assert r.status_code == 200
    for name, value in (("items", "a"), ("keys", "b"), ("get", "c")):
        assert f'<input type="hidden" name="{name}" value="{value}">' in r.text


def test_search_highlights_words_never_entity_names() -> None:
    from paperscope.web.rendering import highlight

    marked = str(highlight('R&D for "Transformers" & amp <b>x</b>', ["transformer", "amp", "lt", "34"]))
    assert marked == ('R&amp;D for &#34;<mark>Transformers</mark>&#34; &amp; <mark>amp</mark> '
                      "&lt;b&gt;x&lt;/b&gt;")
