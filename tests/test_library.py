"""Library, 👍/👎 feedback and BibTeX import: the store on both backends, the parser, the web forms/API."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from paperscope.model import Paper
from paperscope.settings import Settings
from paperscope.sources.bibtex import parse_bibtex
from paperscope.store import get_paper, upsert_papers
from paperscope.store import library as lib
from paperscope.web.app_state import app_state
from tests.community_support import add_user, make_app, page_csrf, sign_in

# The backend matters here (tests/conftest.py): every store-backed test runs on SQLite and PostgreSQL.
pytestmark = pytest.mark.both_backends


def papers() -> list[Paper]:
    return [
        Paper(arxiv_id="2501.00001", version=2, title="Attention Is All You Need, Again",
              abstract="Transformers.", categories=("cs.CL",), listed=date(2025, 1, 2), source="test"),
        Paper(arxiv_id="2501.00002", version=1, title="Protein folding with diffusion", abstract="Proteins.",
              categories=("q-bio.BM",), listed=date(2025, 1, 2), doi="10.1234/Fold.2025", source="test"),
        Paper(arxiv_id="2501.00003", version=1, title="Schrödinger bridges for generative modelling",
              abstract="Bridges between distributions.", categories=("stat.ML",), listed=date(2025, 1, 3),
              source="test"),
    ]


BIBTEX = r"""
@article{vaswani, title={Attention is all you need, again}, eprint={2501.00001v2}, archivePrefix={arXiv}}
@article{fold, title={Something else entirely}, doi={10.1234/fold.2025}, journal={Nature}}
@misc{bridges, title={Schr{\"o}dinger {B}ridges for Generative Modelling}, year={2025}}
@misc{url, title={Unknown}, url={https://arxiv.org/abs/2501.00002v1}}
@misc{missing, title={A paper this server has never heard of}}
@broken{
"""


def rowid(engine: sa.Engine, paper_id: str) -> int:
    p = get_paper(engine, paper_id)
    assert p is not None and p.rowid is not None
    return p.rowid


def test_bibtex_finds_arxiv_ids_dois_and_titles_wherever_they_hide() -> None:
    parsed = parse_bibtex(r"""
@article{a, eprint={2401.12345v3}, archivePrefix={arXiv}, title={A}}
@article{b, journal={arXiv preprint arXiv:2312.00001}, title={B}}
@misc{c, url={https://arxiv.org/pdf/2402.54321v1.pdf}, title={C}}
@misc{d, doi={10.48550/arXiv.2403.11111}, title={D}}
@article{e, doi={https://doi.org/10.1038/S41586-021-03819-2}, title={{AlphaFold} with \emph{accuracy}}}
@misc{f, eprint={hep-th/9901001}, title={Old}}
@misc{g, note={see arXiv:2405.00001}, title={G}}
""")
    got = {e.key: (e.arxiv_id, e.doi, e.title) for e in parsed.entries}
    assert got["a"][0] == "2401.12345"
    assert got["b"][0] == "2312.00001"
    assert got["c"][0] == "2402.54321"
    assert got["d"][:2] == ("2403.11111", None)  # an arXiv DOI is an arXiv id, not a journal DOI
    assert got["e"] == (None, "10.1038/s41586-021-03819-2", "AlphaFold with accuracy")
    assert got["f"][0] == "hep-th/9901001"
    assert got["g"][0] == "2405.00001"
    assert lib.normalise_title(r"Schr{\"o}dinger  Bridges!") == lib.normalise_title("Schrödinger bridges")


def test_library_items_tags_feedback_and_version(engine: sa.Engine) -> None:
    upsert_papers(engine, papers())
    user = add_user(engine, "reader")
    other = add_user(engine, "someone")
    a, b = rowid(engine, "2501.00001"), rowid(engine, "2501.00002")
    assert lib.library_version(engine, user.id) == 0
    assert lib.save_paper(engine, user.id, a, ["Deep Learning", "nlp"]) is True
    assert lib.save_paper(engine, user.id, a, ["NLP", "to read"]) is False  # tags merge, no duplicate
    assert lib.list_library(engine, user.id)[0].tags == ("deep-learning", "nlp", "to-read")
    lib.save_paper(engine, user.id, b)
    assert [i.paper_id for i in lib.list_library(engine, user.id, tag="NLP")] == ["2501.00001"]
    assert lib.library_tags(engine, user.id) == {"deep-learning": 1, "nlp": 1, "to-read": 1}
    assert lib.list_library(engine, other.id) == []  # per user
    v = lib.library_version(engine, user.id)
    lib.set_feedback(engine, user.id, b, -1)
    lib.set_feedback(engine, user.id, a, 1)
    assert lib.feedback_of(engine, user.id) == {a: 1, b: -1}
    assert lib.library_version(engine, user.id) == v + 2
    lib.set_feedback(engine, user.id, a, 1)  # the same mark again changes nothing
    assert lib.library_version(engine, user.id) == v + 2
    lib.set_feedback(engine, user.id, b, 0)
    assert lib.feedback_of(engine, user.id) == {a: 1}
    assert lib.marks_for(engine, user.id, [a, b]) == {a: (True, 1), b: (True, 0)}
    assert lib.remove_paper(engine, user.id, b) and not lib.remove_paper(engine, user.id, b)
    with pytest.raises(ValueError):
        lib.set_feedback(engine, user.id, a, 5)


def test_bibtex_import_matches_by_arxiv_doi_and_title(engine: sa.Engine) -> None:
    upsert_papers(engine, papers())
    user = add_user(engine, "importer")
    report = lib.import_bibtex(engine, user.id, BIBTEX, tags=["thesis"])
    assert report.entries == 5 and report.failed_blocks == 1
    assert report.matched == {"arxiv": 2, "doi": 1, "title": 1}
    assert report.added == 3  # 2501.00002 was found twice (DOI and URL)
    assert report.unmatched == ["missing"]
    items = {i.paper_id: i for i in lib.list_library(engine, user.id)}
    assert set(items) == {"2501.00001", "2501.00002", "2501.00003"}
    assert items["2501.00003"].tags == ("thesis", "bibtex") and items["2501.00003"].source == "bibtex"
    again = lib.import_bibtex(engine, user.id, BIBTEX)
    assert again.added == 0 and len(lib.list_library(engine, user.id)) == 3


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    app, _clock = make_app(settings)
    with TestClient(app) as c:
        yield c
    app_state(app).engine.dispose()


def test_web_save_feedback_import_and_api(client: TestClient) -> None:
    engine = app_state(client.app).engine
    upsert_papers(engine, papers())
    add_user(engine, "reader")
    assert client.get("/api/v1/library").status_code == 401
    anonymous = client.post("/papers/2501.00001/save", data={"tags": "x"}, follow_redirects=False)
    assert anonymous.status_code == 401
    assert sign_in(client, "reader") == 303
    token = page_csrf(client, "/library")
    r = client.post("/papers/2501.00001/save", data={"tags": "reading, nlp", "csrf": token,
                                                     "next": "/library"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/library"
    evil = client.post("/papers/2501.00001/save", data={"csrf": token, "next": "//evil.example"},
                       follow_redirects=False)
    assert evil.headers["location"] == "/papers/2501.00001"
    assert client.post("/papers/2501.00002/save", data={"csrf": "forged"}).status_code == 403
    client.post("/papers/2501.00002/feedback", data={"value": "down", "csrf": token})
    # Every paper card and the paper page carry the controls, showing the viewer's own marks.
    saved_page = client.get("/papers/2501.00001").text
    assert "Saved ✓" in saved_page and 'action="/papers/2501.00001/unsave"' in saved_page
    disliked = client.get("/papers/2501.00002").text
    assert 'name="value" value="clear"' in disliked and 'action="/papers/2501.00002/save"' in disliked
    page = client.get("/library").text
    assert "Attention Is All You Need, Again" in page and "reading" in page
    data = client.get("/api/v1/library").json()
    assert [p["id"] for p in data["papers"]] == ["2501.00001"]
    assert data["papers"][0]["tags"] == ["reading", "nlp"]
    upload = client.post("/library/import", data={"csrf": token, "tags": "imported"},
                         files={"file": ("refs.bib", BIBTEX.encode(), "text/x-bibtex")})
    # Post/redirect/get: the report shows on /library, and names the entry it skipped.
    assert upload.status_code == 200 and upload.url.path == "/library"
    assert "Skipped 1: not in this library — missing" in upload.text
    ids = {p["id"] for p in client.get("/api/v1/library?tag=imported").json()["papers"]}
    assert ids == {"2501.00002", "2501.00003"}  # 2501.00001 was already saved (it gets no new tag)
    # JSON API writes with the session cookie need the CSRF header.
    assert client.put("/api/v1/library/2501.00003", json={"tags": ["x"]}).status_code == 403
    headers = {"X-CSRF-Token": token}
    put = client.put("/api/v1/library/2501.00003", json={"tags": ["Later"]}, headers=headers).json()
    assert put["added"] is False and "later" in put["tags"]
    fb = client.post("/api/v1/papers/2501.00003/feedback", json={"value": 1}, headers=headers)
    assert fb.status_code == 200
    bad = client.post("/api/v1/papers/2501.00003/feedback", json={"value": 3}, headers=headers)
    assert bad.status_code == 422
    assert client.delete("/api/v1/library/2501.00003", headers=headers).json()["removed"] is True
    assert client.post("/api/v1/library/import?tags=api", content=BIBTEX.encode(),
                       headers=headers).json()["added"] == 1
