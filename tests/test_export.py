"""Reference managers: library export (BibTeX, RIS, CSL JSON) read back by bibtexparser, rispy and our own
BibTeX import; the paper page's Cite box and Highwire `citation_*` meta tags."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import date

import bibtexparser
import pytest
import rispy
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient

from paperscope.model import Paper
from paperscope.settings import Settings
from paperscope.sources.bibtex import parse_bibtex
from paperscope.store import get_paper, upsert_papers
from paperscope.store import library as lib
from paperscope.store import users as user_store
from paperscope.web.app_state import app_state
from paperscope.web.cite_formats import bibtex, csl_json, ris
from tests.community_support import add_user, make_app
from tests.support.web_data import library

AWKWARD = [
    Paper(title="Unbalanced {braces and 50% of R&D #1", arxiv_id="2502.00001", version=1,
          abstract="An abstract\nover two lines with $x_i^2$.", authors=("Jöns Öberg", "Research and Co"),
          categories=("cs.DL",), published=date(2025, 2, 3), listed=date(2025, 2, 3),
          doi="10.1000/xyz.1", journal_ref="J. Tests 1 (2025) 1-2", source="test"),
    Paper(title="A paper without an arXiv id", doi="10.5555/only-doi", authors=("Plato",),
          categories=("physics.hist-ph",), listed=date(2025, 2, 4), source="test"),
]
TOKEN = "ps_export-token"


@pytest.fixture
def app(settings: Settings) -> Iterator[FastAPI]:
    application, _ = make_app(settings)
    upsert_papers(app_state(application).engine, AWKWARD)
    yield application
    app_state(application).engine.dispose()


def save_all(engine: sa.Engine, user_id: int, ids: list[str], tags: list[str] | None = None) -> None:
    for paper_id in ids:
        paper = get_paper(engine, paper_id)
        assert paper is not None and paper.rowid is not None
        lib.save_paper(engine, user_id, paper.rowid, tags or [])


def all_ids() -> list[str]:
    return [p.paper_id for p in library() + AWKWARD]


def test_export_round_trips_through_bibtex_import(app: FastAPI) -> None:
    engine = app_state(app).engine
    writer, reader = add_user(engine, "writer"), add_user(engine, "reader")
    user_store.create_api_token(engine, writer.id, "export", TOKEN)
    user_store.create_api_token(engine, reader.id, "import", TOKEN + "-reader")
    save_all(engine, writer.id, all_ids())
    client = TestClient(app)
    exported = client.get("/api/v1/library/export?format=bibtex",
                          headers={"Authorization": f"Bearer {TOKEN}"})
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("application/x-bibtex")
    assert 'filename="paperscope-library.bib"' in exported.headers["content-disposition"]
    arxiv_ids = {p.arxiv_id for p in library() + AWKWARD if p.arxiv_id}
    assert {e.arxiv_id for e in parse_bibtex(exported.text).entries} >= arxiv_ids
    report = client.post("/api/v1/library/import", content=exported.content,
                         headers={"Authorization": f"Bearer {TOKEN}-reader"}).json()
    assert report["failed_blocks"] == 0 and report["unmatched"] == []
    assert report["matched"] == {"arxiv": len(arxiv_ids), "doi": 1}
    assert {i.paper_id for i in lib.list_library(engine, reader.id)} == set(all_ids())


def test_every_format_reads_back_with_no_errors(app: FastAPI) -> None:
    papers = library() + AWKWARD
    parsed = bibtexparser.parse_string(bibtex(papers))
    assert parsed.failed_blocks == [] and len(parsed.entries) == len(papers)
    assert len({e.key for e in parsed.entries}) == len(papers)  # keys unique in the file
    awkward = next(e for e in parsed.entries if e.fields_dict.get("eprint") and
                   e.fields_dict["eprint"].value == "2502.00001")
    assert awkward.entry_type == "article"
    assert awkward["title"] == r"Unbalanced braces and 50\% of R\&D \#1"
    assert awkward["author"] == "Öberg, Jöns and {Research and Co}"
    records = rispy.loads(ris(papers))
    assert len(records) == len(papers)
    by_title = {r["title"]: r for r in records}
    awkward_ris = by_title["Unbalanced {braces and 50% of R&D #1"]
    assert awkward_ris["authors"] == ["Öberg, Jöns", "Research and Co"]
    assert awkward_ris["abstract"] == "An abstract over two lines with $x_i^2$."
    assert awkward_ris["type_of_reference"] == "JOUR" and awkward_ris["doi"] == "10.1000/xyz.1"
    assert by_title["Attention Is Still All You Need"]["type_of_reference"] == "UNPB"
    assert by_title["Attention Is Still All You Need"]["urls"] == ["https://arxiv.org/abs/2503.10001"]
    items = csl_json(papers)
    assert json.loads(json.dumps(items)) == items
    first = next(i for i in items if i["id"] == "2503.10001")
    assert first["author"][0] == {"family": "Lovelace", "given": "Ada"}
    assert first["issued"] == {"date-parts": [[2025, 3, 17]]} and first["number"] == "arXiv:2503.10001"


def test_export_formats_tags_and_refusals(app: FastAPI) -> None:
    engine = app_state(app).engine
    writer = add_user(engine, "writer")
    user_store.create_api_token(engine, writer.id, "export", TOKEN)
    save_all(engine, writer.id, ["2503.10001", "2503.20002"])
    save_all(engine, writer.id, ["2503.40001"], ["To Read"])
    client = TestClient(app, headers={"Authorization": f"Bearer {TOKEN}"})
    ris_file = client.get("/api/v1/library/export?format=ris&tag=to-read")
    assert ris_file.headers["x-papers"] == "1"
    assert 'filename="paperscope-library-to-read.ris"' in ris_file.headers["content-disposition"]
    assert [r["title"] for r in rispy.loads(ris_file.text)] == ["Late Interaction at Scale"]
    csl = client.get("/api/v1/library/export?format=csljson")
    assert csl.headers["content-type"] == "application/vnd.citationstyles.csl+json"
    assert [i["id"] for i in csl.json()] == ["2503.40001", "2503.20002", "2503.10001"]  # newest first
    assert client.get("/api/v1/library/export?format=endnote").status_code == 422
    assert TestClient(app).get("/api/v1/library/export").status_code == 401


def test_paper_page_offers_citation_metadata_and_a_cite_box(app: FastAPI) -> None:
    client = TestClient(app)
    page = client.get("/papers/2503.10001")
    assert page.status_code == 200
    head = page.text.split("</head>")[0]
    metas = re.findall(r'<meta name="(citation_[a-z_]+)" content="([^"]*)">', head)
    assert ("citation_title", "Attention Is Still All You Need") in metas
    assert [v for k, v in metas if k == "citation_author"] == ["Lovelace, Ada", "Turing, Alan"]
    assert ("citation_arxiv_id", "2503.10001") in metas
    assert ("citation_pdf_url", "https://arxiv.org/pdf/2503.10001") in metas
    assert ("citation_publication_date", "2025/03/17") in metas
    # The Cite box: BibTeX as text on the page, no script needed to see or copy it.
    box = page.text.split('<details class="cite">')[1].split("</details>")[0]
    assert "@misc{lovelace2025attention," in box and "eprint = {2503.10001}" in box
    assert "<script" not in box
    assert client.get("/papers/2503.10001?format=json").json()["cite"]["bibtex"].startswith(
        "@misc{lovelace2025attention,")
    # Markup in a title is escaped in the meta tag, not injected.
    marked = client.get("/papers/2503.20001").text.split("</head>")[0]
    assert '<meta name="citation_title" content="Diffusion Models for Text &lt;script&gt;' in marked
