"""The real huggingface_hub client, pointed at a live paperscope server, reads our API unchanged."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from paperscope.settings import Settings
from paperscope.store import open_database
from paperscope.web.app import create_app
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
    app.state.engine.dispose()


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
