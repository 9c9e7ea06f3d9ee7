"""The real huggingface_hub client, pointed at a live paperscope server, reads our API unchanged."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from paperscope.settings import Settings
from paperscope.store import open_database
from paperscope.web.app import create_app
from paperscope.web.app_state import app_state
from tests.support.web_data import THU, TUE, live_server, load_library

hf_api = pytest.importorskip("huggingface_hub", reason="huggingface_hub not installed (pip install '.[dev]')")


@pytest.fixture
def hub(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.setenv("HF_TOKEN", "")
    load_library(open_database(settings.db_url))
    app = create_app(settings, cache_seconds=0)
    with live_server(app) as url:
        yield hf_api.HfApi(endpoint=url, token=False)
    app_state(app).engine.dispose()


def test_list_daily_papers(hub: Any) -> None:
    papers = list(hub.list_daily_papers(date=TUE.isoformat()))
    assert {p.id for p in papers} == {"2503.20001", "2503.20002"}
    sparse = next(p for p in papers if p.id == "2503.20002")
    assert sparse.title == "Sparse Retrieval Revisited"
    assert sparse.upvotes == 12
    assert [a.name for a in sparse.authors] == ["Karen Sparck Jones"]
    assert sparse.summary.startswith("BM25 and learned sparse retrieval")
    assert sparse.submitted_at is not None and sparse.submitted_at.isoformat().startswith("2025-03-18T10:00")
    # Default: the latest day; paging with p/limit like huggingface.co.
    latest = list(hub.list_daily_papers(limit=5))
    page2 = list(hub.list_daily_papers(limit=5, p=1))
    assert len(latest) == 5 and len(page2) == 5 and not {p.id for p in latest} & {p.id for p in page2}
    week = list(hub.list_daily_papers(week="2025-W12", sort="trending", limit=100))
    assert len(week) == 18 and week[0].id == "2503.10001"


def test_list_papers_search(hub: Any) -> None:
    found = list(hub.list_papers(query="late interaction"))
    assert found and found[0].id == "2503.40001"
    assert found[0].title == "Late Interaction at Scale"


def test_paper_info(hub: Any) -> None:
    info = hub.paper_info("2503.10001")
    assert info.title == "Attention Is Still All You Need"
    assert info.upvotes == 40
    assert info.github_repo == "https://github.com/example/attn"
    assert info.published_at is not None and info.published_at.date().isoformat() == "2025-03-17"
    assert info.submitted_by is not None and info.submitted_by.username == "ada"
    old = hub.paper_info("hep-th/9901001")
    assert old.published_at.date() == THU


def test_unknown_paper_raises_404(hub: Any) -> None:
    from huggingface_hub.errors import HfHubHTTPError

    with pytest.raises(HfHubHTTPError) as err:
        hub.paper_info("2401.00000")
    assert err.value.response.status_code == 404


def test_submitter_filter_applies_before_paging(hub: object) -> None:
    # Ada's one paper of the week is the oldest of its 18: filtering after paging found nothing.
    mine = list(hub.list_daily_papers(week="2025-W12", submitter="ada", limit=2))  # type: ignore[attr-defined]
    assert [p.id for p in mine] == ["2503.10001"]
    assert mine[0].submitted_by is not None and mine[0].submitted_by.username == "ada"
    trending = list(hub.list_daily_papers(week="2025-W12", submitter="ada", sort="trending",  # type: ignore[attr-defined]
                                          limit=1))
    assert [p.id for p in trending] == ["2503.10001"]
    assert list(hub.list_daily_papers(week="2025-W12", submitter="nobody", limit=5)) == []  # type: ignore[attr-defined]


@pytest.fixture
def discussed(settings: Settings) -> None:
    from datetime import UTC, datetime

    from paperscope.store import comments as comment_store
    from paperscope.store import get_paper
    from tests.community_support import add_user

    engine = open_database(settings.db_url)
    paper = get_paper(engine, "2503.10001")
    assert paper is not None and paper.rowid is not None
    user = add_user(engine, "reviewer")
    for body in ("Nice **result**.", "Does it hold for long contexts?"):
        comment_store.add_comment(engine, paper.rowid, user.id, body, datetime(2025, 3, 18, tzinfo=UTC))
    engine.dispose()


def test_comment_counts_agree_between_daily_list_and_paper_info(hub: object, discussed: None) -> None:
    listed = {p.id: p for p in hub.list_daily_papers(date="2025-03-17")}  # type: ignore[attr-defined]
    assert listed["2503.10001"].comments == 2
    assert hub.paper_info("2503.10001").comments == 2  # type: ignore[attr-defined]
    assert hub.paper_info("2503.10002").comments == 0  # type: ignore[attr-defined]


def test_read_paper_returns_the_page_as_markdown(hub: object, discussed: None) -> None:
    from huggingface_hub.errors import HfHubHTTPError

    text = hub.read_paper("2503.10001")  # type: ignore[attr-defined]
    assert text.startswith("# Attention Is Still All You Need\n")
    assert "- **Authors:** Ada Lovelace, Alan Turing" in text
    assert "[2503.10001](https://arxiv.org/abs/2503.10001)" in text
    assert "- **Code:** https://github.com/example/attn" in text
    assert "## Abstract\n\nWe revisit transformer attention" in text
    assert "## Discussion (2)" in text and "Does it hold for long contexts?" in text
    old = hub.read_paper("hep-th/9901001")  # type: ignore[attr-defined]
    assert old.startswith("# String Dualities Old and New")
    with pytest.raises(HfHubHTTPError) as err:
        hub.read_paper("2401.00000")  # type: ignore[attr-defined]
    assert err.value.response.status_code == 404


def test_linked_repositories(hub: object) -> None:
    import httpx

    base = hub.endpoint  # type: ignore[attr-defined]
    repos = httpx.get(f"{base}/api/arxiv/2503.10001/repos").json()
    assert repos == {"models": [], "datasets": [], "spaces": [], "githubRepo": "https://github.com/example/attn",
                     "githubStars": None, "projectPage": None}
    assert httpx.get(f"{base}/api/arxiv/2503.10002v1/repos").json()["githubRepo"] is None
    assert httpx.get(f"{base}/api/arxiv/2401.00000/repos").status_code == 404
    assert hub.paper_info("2503.10001").github_repo == "https://github.com/example/attn"  # type: ignore[attr-defined]


def test_list_papers_uses_hybrid_search(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """A query sharing no word with any paper: BM25 finds nothing, the product's hybrid search finds
    the papers about it (through the dense and late-interaction indexes)."""
    import httpx

    from paperscope.embed import load_encoder
    from paperscope.index.build import build_index
    from paperscope.store import upsert_papers
    from tests.support.topic_corpus import corpus

    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    engine = open_database(settings.db_url)
    upsert_papers(engine, corpus())
    build_index(engine, settings.index_dir, load_encoder(settings))
    engine.dispose()
    app = create_app(settings, cache_seconds=0)
    with live_server(app) as url:
        assert httpx.get(f"{url}/api/search", params={"q": "astronomy", "mode": "bm25"}).json()["total"] == 0
        found = list(hf_api.HfApi(endpoint=url, token=False).list_papers(query="astronomy", limit=3))
    app_state(app).engine.dispose()
    assert [p.id[:7] for p in found][:2] == ["2504.02", "2504.02"]  # the galaxy papers
