"""Authors: one person under any spelling ("Spärck Jones", "Sparck Jones", "K. Sparck Jones"), on the
author page, its JSON twin and Atom feed, and as the `author=` filter of /search and /api/search."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest
from fastapi.testclient import TestClient

from paperscope.model import Paper
from paperscope.search.authors import names_match
from paperscope.settings import Settings
from paperscope.store import upsert_papers
from paperscope.web.app_state import app_state
from tests.community_support import make_app

NEW = [
    Paper(title="Term Weighting Revisited", arxiv_id="2503.50001",
          abstract="Inverse document frequency and retrieval, fifty years on.",
          authors=("Karen Spärck Jones", "Stephen Robertson"), categories=("cs.IR",),
          published=date(2025, 3, 21), listed=date(2025, 3, 21), source="test"),
    Paper(title="Another Jones Entirely", arxiv_id="2503.50002",
          abstract="Retrieval of something else by someone else.",
          authors=("Kevin Jones",), categories=("cs.IR",),
          published=date(2025, 3, 21), listed=date(2025, 3, 21), source="test"),
]


@pytest.mark.parametrize(("query", "stored", "same"), [
    ("Spärck Jones", "Karen Spärck Jones", True),
    ("Sparck Jones", "Karen Spärck Jones", True),
    ("K. Sparck Jones", "Karen Spärck Jones", True),
    ("K. Spärck Jones", "Karen Sparck Jones", True),
    ("Sparck Jones, Karen", "Karen Spärck Jones", True),
    ("Karen Sparck-Jones", "Karen Spärck Jones", True),
    ("J.-P. Sartre", "Jean-Paul Sartre", True),
    ("Jean Paul Sartre", "J. P. Sartre", True),
    ("Ørsted", "Hans Christian Oersted", False),  # a different spelling, not an accent
    ("Ørsted", "H. C. Ørsted", True),
    ("Kevin Sparck Jones", "Karen Spärck Jones", False),
    ("K. Sparck Jones", "Kevin Jones", False),
    ("Jones", "Kevin Jones", True),
    ("K.", "Karen Spärck Jones", False),  # an initial alone names nobody
])
def test_name_matching(query: str, stored: str, same: bool) -> None:
    assert names_match(query, stored) is same


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    app, _ = make_app(settings)
    upsert_papers(app_state(app).engine, NEW)
    with TestClient(app) as c:
        yield c
    app_state(app).engine.dispose()


@pytest.mark.parametrize("name", ["Spärck Jones", "Sparck Jones", "K. Sparck Jones", "karen sparck jones"])
def test_author_page_finds_every_spelling(client: TestClient, name: str) -> None:
    data = client.get(f"/authors/{name}?format=json").json()
    assert [p["id"] for p in data["papers"]] == ["2503.50001", "2503.20002"]  # newest first
    assert sorted(data["spellings"]) == ["Karen Sparck Jones", "Karen Spärck Jones"]
    page = client.get(f"/authors/{name}")
    assert page.status_code == 200 and "Term Weighting Revisited" in page.text
    assert "Another Jones Entirely" not in page.text
    feed = client.get(f"/feeds/author/{name}.atom")
    assert feed.headers["content-type"].startswith("application/atom+xml")
    assert "Term Weighting Revisited" in feed.text and "Sparse Retrieval Revisited" in feed.text


def test_author_filter_on_search(client: TestClient) -> None:
    for path in ("/search?format=json&", "/api/search?"):
        r = client.get(path + "q=retrieval&mode=bm25&author=K.%20Sparck%20Jones").json()
        assert {p["id"] for p in r["results"]} == {"2503.50001", "2503.20002"}
        everyone = client.get(path + "q=retrieval&mode=bm25").json()
        assert "2503.50002" in {p["id"] for p in everyone["results"]}
        nobody = client.get(path + "q=retrieval&mode=bm25&author=Nobody%20Here").json()
        assert nobody["results"] == [] and "no author called" in nobody["notes"][0]
    assert 'name="author" value="K. Sparck Jones"' in client.get(
        "/search?q=retrieval&author=K.%20Sparck%20Jones").text


def test_absurd_author_names_are_refused(client: TestClient) -> None:
    long = "x" * 10_000
    assert client.get(f"/authors/{long}").status_code == 422
    assert client.get(f"/api/search?q=a&author={long}").status_code == 422
    assert client.get(f"/feeds/author/{long}.atom").status_code == 422
    assert client.get("/authors/Nobody%20Here?format=json").json()["papers"] == []
    assert client.get("/feeds/author/%08.atom").status_code == 400  # XML cannot carry it
    assert client.get("/authors/Sp%00rck").status_code == 400
