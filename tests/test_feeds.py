"""Atom feeds parse as valid Atom (feedparser) and carry the same papers and numbers as the pages."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from paperscope.model import Paper
from paperscope.settings import Settings
from paperscope.store import open_database, upsert_papers
from paperscope.web.app import create_app
from paperscope.web.app_state import app_state
from tests.support.web_data import TUE, load_library

feedparser = pytest.importorskip("feedparser", reason="feedparser not installed (pip install '.[dev]')")


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    load_library(open_database(settings.db_url))
    app = create_app(settings, cache_seconds=0)
    with TestClient(app) as c:
        yield c
    app_state(app).engine.dispose()


def parse(client: TestClient, url: str) -> Any:
    r = client.get(url)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/atom+xml")
    feed = feedparser.parse(r.content)
    assert not feed.bozo, feed.get("bozo_exception")
    assert feed.version == "atom10"
    return feed


def test_daily_feed(client: TestClient) -> None:
    feed = parse(client, f"/feeds/daily.atom?date={TUE}")
    assert [e.title for e in feed.entries] == ["Sparse Retrieval Revisited",
                                               "Diffusion Models for Text <script>alert(1)</script>"]
    entry = feed.entries[0]
    assert entry.id == "https://arxiv.org/abs/2503.20002"
    assert any(link.href == "https://arxiv.org/pdf/2503.20002" for link in entry.links)
    assert [t.term for t in entry.tags] == ["cs.IR"]


def test_trending_feed_matches_api_numbers(client: TestClient) -> None:
    feed = parse(client, "/feeds/trending.atom")
    page = client.get("/trending?format=json").json()["papers"]
    entries = feed.entries
    assert [e.title for e in entries] == [p["title"] for p in page[:len(entries)]]
    assert f"trending score {page[0]['trending_score']:.4f}" in entries[0].summary


def test_category_and_search_feeds(client: TestClient) -> None:
    cat = parse(client, "/feeds/category/cs.IR.atom")
    assert [e.title for e in cat.entries] == ["Late Interaction at Scale"]
    found = parse(client, "/feeds/search.atom?q=sparse+retrieval")
    assert found.entries[0].title == "Sparse Retrieval Revisited"
    assert client.get("/feeds/search.atom").status_code == 422  # a query is required


def test_entries_link_the_paper_page_and_the_pdf_as_rfc_4287_asks(client: TestClient) -> None:
    import xml.etree.ElementTree as ET

    ns = {"a": "http://www.w3.org/2005/Atom"}
    root = ET.fromstring(client.get(f"/feeds/daily.atom?date={TUE}").content)
    for entry in root.findall("a:entry", ns):
        links = entry.findall("a:link", ns)
        alternates = [link for link in links if link.get("rel", "alternate") == "alternate"]
        assert len(alternates) == 1 and "/papers/" in alternates[0].attrib["href"]
        pdf = [link.attrib for link in links if link.get("rel") == "related"]
        assert pdf == [{"href": pdf[0]["href"], "rel": "related", "type": "application/pdf", "title": "PDF"}]
        assert pdf[0]["href"].startswith("https://arxiv.org/pdf/")
    feed = parse(client, f"/feeds/daily.atom?date={TUE}")
    entry = feed.entries[0]
    assert entry.link.endswith("/papers/2503.20002")  # a feed reader opens the paper page, not the PDF
    assert entry.summary.startswith("BM25 and learned sparse retrieval")  # the abstract comes first
    self_link = [link.href for link in feed.feed.links if link.rel == "self"]
    assert self_link[0].endswith(f"/feeds/daily.atom?date={TUE}")


def test_search_feed_self_link_keeps_the_query(client: TestClient) -> None:
    feed = parse(client, "/feeds/search.atom?q=sparse+retrieval")
    self_link = [link.href for link in feed.feed.links if link.rel == "self"]
    assert self_link[0].endswith("/feeds/search.atom?q=sparse+retrieval&mode=bm25")


def test_pages_link_their_own_feed(client: TestClient) -> None:
    search = client.get("/search?q=sparse+retrieval&mode=bm25").text
    assert 'href="/feeds/search.atom?q=sparse+retrieval&amp;mode=bm25">Atom</a>' in search
    assert 'href="/feeds/trending.atom">Atom</a>' in client.get("/trending").text
    assert 'href="/feeds/category/cs.IR.atom">Atom</a>' in client.get("/categories/cs.IR").text
    assert f'href="/feeds/daily.atom?date={TUE}">Atom</a>' in client.get(f"/?date={TUE}").text


def test_head_is_answered_like_get(client: TestClient) -> None:
    for path in ("/", "/papers/2503.20002", "/papers/2503.20002/similar", "/feeds/daily.atom", "/trending"):
        head, get = client.head(path), client.get(path)
        assert head.status_code == get.status_code == 200, path
        assert head.content == b"" and head.headers["content-type"] == get.headers["content-type"]
def test_characters_xml_cannot_carry_are_dropped_not_a_500(client: TestClient) -> None:
    engine = app_state(client.app).engine
    upsert_papers(engine, [Paper(arxiv_id="2503.29999", version=1,
                                 title="Bell\x07 tolls\x1f for sparse retrieval",
                                 abstract="Form\x0cfeed inside.", authors=("Soh\x01 Author",),
                                 categories=("cs.IR",), listed=TUE, source="test")])
    # A query holding one is refused (422); a stored paper holding them loses them in the feed.
    assert client.get("/feeds/search.atom?q=sparse%1F+tolls").status_code == 422
    feed = parse(client, "/feeds/search.atom?q=sparse+tolls")
    assert feed.feed.title == "paperscope · sparse tolls"
    entry = next(e for e in feed.entries if e.id.endswith("2503.29999"))
    assert entry.title == "Bell tolls for sparse retrieval" and entry.summary == "Formfeed inside."
