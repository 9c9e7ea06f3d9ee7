"""The personal "For you" model and feed: training, caching by feedback version, reasons, pages."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from fastapi.testclient import TestClient

from paperscope.embed import Encoder
from paperscope.feed.foryou import ForYou, fit_preferences
from paperscope.search import SearchEngine
from paperscope.settings import Settings
from paperscope.store import get_paper
from paperscope.store import library as lib
from paperscope.web.app import create_app
from paperscope.web.app_state import app_state
from tests.community_support import add_user, sign_in
from tests.support.encoders import MemoEncoder
from tests.support.papers import rowid


def test_model_ranks_unseen_papers_of_the_liked_topic_first() -> None:
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(4, 32))

    def topic(t: int, n: int) -> np.ndarray:
        v = centres[t] + 0.6 * rng.normal(size=(n, 32))
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    liked, disliked = topic(0, 5), topic(1, 3)
    unseen = np.vstack([topic(t, 30) for t in range(4)])
    model = fit_preferences(liked, disliked, unseen)
    fresh = np.vstack([topic(0, 10), topic(1, 10), topic(2, 10), topic(3, 10)])
    top = np.argsort(-model.score(fresh))[:10]
    assert (top < 10).mean() >= 0.8  # the liked topic fills the top of the feed
    assert model.score(topic(1, 20)).mean() < model.score(topic(2, 20)).mean()  # 👎 topic sinks lowest
    with pytest.raises(ValueError):
        fit_preferences(liked[:0], disliked)


@pytest.fixture(scope="module")
def encoder(bundled_encoder: Encoder) -> Encoder:
    return MemoEncoder(bundled_encoder)


def test_feed_follows_the_library_retrains_on_feedback_and_explains(
        indexed_search_engine: SearchEngine) -> None:
    engine = indexed_search_engine.engine
    user = add_user(engine, "reader")
    service = ForYou(indexed_search_engine.retriever, unseen_sample=50)
    empty = service.feed(user.id)
    assert empty.items == [] and "save papers" in empty.notes[0]
    lib.save_paper(engine, user.id, rowid(engine, "2504.01001"))  # proteins
    lib.set_feedback(engine, user.id, rowid(engine, "2504.01002"), 1)
    result = service.feed(user.id, k=4)
    assert result.retrained
    ids = [i.paper_id for i in result.items]
    assert not {"2504.01001", "2504.01002"} & set(ids)  # what you already have is not recommended
    assert ids[0].startswith("2504.01") and ids[1].startswith("2504.01")  # the other protein papers
    assert result.items[0].reasons and result.items[0].reasons[0].paper_id in {"2504.01001", "2504.01002"}
    again = service.feed(user.id, k=4)
    assert not again.retrained and again.model_version == result.model_version  # cached weights
    # 👎 on the protein topic and 👍 on robots: the model is retrained and the feed turns to robots.
    for pid in ("2504.01003", "2504.01004"):
        lib.set_feedback(engine, user.id, rowid(engine, pid), -1)
    lib.remove_paper(engine, user.id, rowid(engine, "2504.01001"))
    lib.set_feedback(engine, user.id, rowid(engine, "2504.01002"), -1)
    lib.set_feedback(engine, user.id, rowid(engine, "2504.04001"), 1)
    lib.save_paper(engine, user.id, rowid(engine, "2504.04002"))
    turned = service.feed(user.id, k=2)
    assert turned.retrained and turned.model_version > result.model_version
    assert all(i.paper_id.startswith("2504.04") for i in turned.items)
    diverse = service.feed(user.id, k=4, diverse=True, theta=0.3)
    assert len(diverse.items) == 4


@pytest.fixture
def client(indexed_search_engine: SearchEngine, settings: Settings) -> Iterator[TestClient]:
    app = create_app(settings, cache_seconds=0)
    with TestClient(app) as c:
        yield c
    app_state(app).engine.dispose()


def test_foryou_page_and_api(client: TestClient, indexed_search_engine: SearchEngine) -> None:
    engine = indexed_search_engine.engine
    user = add_user(engine, "web")
    assert client.get("/api/v1/foryou").status_code == 401
    lib.save_paper(engine, user.id, rowid(engine, "2504.02001"))  # galaxies
    assert sign_in(client, "web") == 303
    data = client.get("/api/v1/foryou?limit=3").json()
    assert [p["id"][:7] for p in data["papers"]][:2] == ["2504.02", "2504.02"]
    assert data["papers"][0]["reasons"][0]["paper_id"] == "2504.02001"
    page = client.get("/foryou")
    assert page.status_code == 200 and data["papers"][0]["title"] in page.text
    assert "because you liked" in page.text
    assert client.get("/foryou?days=0").status_code == 422


def test_hidden_papers_are_never_recommended_or_listed_as_similar(
        indexed_search_engine: SearchEngine) -> None:
    from paperscope.feed.similar import SimilarPapers
    from paperscope.store.votes import set_hidden

    engine = indexed_search_engine.engine
    user = add_user(engine, "moderated")
    lib.save_paper(engine, user.id, rowid(engine, "2504.01001"))
    lib.set_feedback(engine, user.id, rowid(engine, "2504.01002"), 1)
    retriever = indexed_search_engine.retriever
    first = [i.paper_id for i in ForYou(retriever, unseen_sample=50).feed(user.id, k=4).items]
    similar = SimilarPapers(retriever)
    seed = get_paper(engine, "2504.01001")
    assert seed is not None
    before = [h.paper_id for h in similar.similar([seed], k=3).hits]
    top_similar = before[0]
    set_hidden(engine, rowid(engine, first[0]), True)
    set_hidden(engine, rowid(engine, top_similar), True)
    after_feed = [i.paper_id for i in ForYou(retriever, unseen_sample=50).feed(user.id, k=4).items]
    after = similar.similar([seed], k=3)
    assert first[0] not in after_feed
    assert after.cached and top_similar not in [h.paper_id for h in after.hits]  # even from the cache
