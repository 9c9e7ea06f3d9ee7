"""The anonymous response cache: pages follow every write at once, from any process, and what one
viewer sees (their vote) never reaches another. On SQLite and PostgreSQL."""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from paperscope.model import Paper
from paperscope.settings import Settings
from paperscope.store import open_database, upsert_papers
from paperscope.store import users as user_store
from paperscope.web.app import create_app
from paperscope.web.app_state import app_state
from tests.community_support import add_user, page_csrf, sign_in
from tests.support.web_data import load_library

# The backend matters here (tests/conftest.py): every store-backed test runs on SQLite and PostgreSQL.
pytestmark = pytest.mark.both_backends

PAPER = "/papers/2503.40001"  # 3 upvotes from Hugging Face in the test library
# The vote form of a signed-in viewer: it offers "unvote" once they have voted.
VOTE_FORM = re.compile(r'class="inline vote" action="[^"]*/(upvote|unvote)"')


def _upvotes(html: str) -> int:
    found = re.search(r"</span> (?:<span class=\"upvotes\">)?(\d+)(?:</span>)? upvote", html)
    assert found, "page shows no upvote count"
    return int(found.group(1))


@pytest.fixture
def workers(settings: Settings) -> Iterator[tuple[FastAPI, FastAPI]]:
    """Two apps on one store, as two `paperscope serve` worker processes are: each its own cache."""
    engine = open_database(settings.db_url)
    load_library(engine)
    engine.dispose()
    apps = (create_app(settings, cache_seconds=60), create_app(settings, cache_seconds=60))
    yield apps
    for app in apps:
        app_state(app).store_version.close()
        app_state(app).engine.dispose()
    shared = app_state(apps[0]).response_cache.shared
    if shared is not None:  # pages shared through /dev/shm: not left behind by tests
        shutil.rmtree(shared.folder, ignore_errors=True)


def test_cached_pages_change_as_soon_as_the_store_does(workers: tuple[FastAPI, FastAPI],
                                                       settings: Settings) -> None:
    app, _ = workers
    anon = TestClient(app)
    first = anon.get("/papers/2503.20002?format=json")
    assert first.json()["title"] == "Sparse Retrieval Revisited"
    again = anon.get("/papers/2503.20002?format=json")
    assert again.content == first.content and again.headers["etag"] == first.headers["etag"]
    assert len(app_state(app).response_cache) >= 1
    # A browser revalidating gets a bodiless 304.
    etag = {"if-none-match": first.headers["etag"]}
    not_modified = anon.get("/papers/2503.20002?format=json", headers=etag)
    assert not_modified.status_code == 304 and not_modified.content == b""
    # An ingest in another process (its own engine) shows on the very next request.
    other = open_database(settings.db_url)
    upsert_papers(other, [Paper(title="Sparse Retrieval Re-Revisited", arxiv_id="2503.20002", version=9,
                                source="test")])
    other.dispose()
    fresh = anon.get("/papers/2503.20002?format=json", headers=etag)
    assert fresh.status_code == 200 and fresh.json()["title"] == "Sparse Retrieval Re-Revisited"
    assert fresh.headers["etag"] != first.headers["etag"]
    # Errors are never cached: a paper that did not exist appears once it is ingested.
    assert anon.get("/papers/2599.00001").status_code == 404
    upsert_papers(app_state(app).engine, [Paper(title="Now Here", arxiv_id="2599.00001", source="test")])
    assert anon.get("/papers/2599.00001").status_code == 200


def test_votes_show_everywhere_at_once_and_vote_state_stays_with_its_voter(
        workers: tuple[FastAPI, FastAPI]) -> None:
    one, two = workers
    add_user(app_state(one).engine, "alice")
    add_user(app_state(one).engine, "bob")
    anon_one, anon_two = TestClient(one), TestClient(two)
    # Both workers have the anonymous page cached before anyone votes.
    assert _upvotes(anon_one.get(PAPER).text) == 3 and _upvotes(anon_two.get(PAPER).text) == 3
    assert anon_two.get(PAPER + "?format=json").json()["upvotes"] == 3

    alice = TestClient(one)
    assert sign_in(alice, "alice") == 303
    alice.post(PAPER + "/upvote", data={"csrf": page_csrf(alice, PAPER)})
    alice_page = alice.get(PAPER).text
    assert VOTE_FORM.findall(alice_page) == ["unvote"] and _upvotes(alice_page) == 4

    # The other worker's anonymous page already counts the vote, and carries no one's vote state.
    for anon in (anon_two, anon_one):
        page = anon.get(PAPER).text
        assert _upvotes(page) == 4 and not VOTE_FORM.search(page)
        data = anon.get(PAPER + "?format=json").json()
        assert data["upvotes"] == 4 and "upvoted_by_you" not in data
    # Bob, signed in on the other worker, sees the count but not Alice's vote as his.
    bob = TestClient(two)
    assert sign_in(bob, "bob") == 303
    bob_page = bob.get(PAPER).text
    assert VOTE_FORM.findall(bob_page) == ["upvote"] and _upvotes(bob_page) == 4
    assert bob.get(PAPER + "?format=json").json()["upvoted_by_you"] is False

    # Alice takes the vote back on worker one; worker two shows that to her and to everyone at once.
    alice.post(PAPER + "/unvote", data={"csrf": page_csrf(alice, PAPER)})
    alice_on_two = TestClient(two, cookies=alice.cookies)
    assert VOTE_FORM.findall(alice_on_two.get(PAPER).text) == ["upvote"]
    assert _upvotes(anon_two.get(PAPER).text) == 3
    assert anon_two.get(PAPER + "?format=json").json()["upvotes"] == 3


def test_bearer_token_answers_are_neither_served_from_nor_stored_in_the_cache(
        workers: tuple[FastAPI, FastAPI]) -> None:
    app, _ = workers
    user = add_user(app_state(app).engine, "carol")
    token = "ps_test-token-carol"
    user_store.create_api_token(app_state(app).engine, user.id, "test", token)
    anon = TestClient(app)
    assert "upvoted_by_you" not in anon.get(PAPER + "?format=json").json()  # now cached
    auth = {"authorization": f"Bearer {token}"}
    csrf_free = TestClient(app)
    assert csrf_free.post(f"/api/v1{PAPER}/upvote", headers=auth).status_code == 200
    mine = csrf_free.get(PAPER + "?format=json", headers=auth).json()
    assert mine["upvoted_by_you"] is True and mine["upvotes"] == 4
    # The token holder's answer was not stored for everyone else.
    theirs = anon.get(PAPER + "?format=json").json()
    assert "upvoted_by_you" not in theirs and theirs["upvotes"] == 4


def test_cache_off_and_cookies_always_render(settings: Settings) -> None:
    engine = open_database(settings.db_url)
    load_library(engine)
    app = create_app(settings, cache_seconds=0)
    with TestClient(app) as c:
        assert c.get(PAPER).status_code == 200
        assert len(app_state(app).response_cache) == 0
    app = create_app(settings, cache_seconds=60)
    with TestClient(app) as c:
        assert c.get(PAPER, headers={"cookie": "x=1"}).status_code == 200
        assert len(app_state(app).response_cache) == 0
        assert "etag" not in c.get(PAPER, headers={"cookie": "x=1"}).headers
    app_state(app).store_version.close()
    app_state(app).engine.dispose()
    engine.dispose()


def test_a_page_one_worker_rendered_is_reused_by_the_other_until_the_store_changes(
        workers: tuple[FastAPI, FastAPI], monkeypatch: pytest.MonkeyPatch) -> None:
    from paperscope.web.routes import papers as paper_routes

    reads: list[str] = []  # one per rendering of a paper page
    real_read = paper_routes.paper_page_row

    def counting_read(engine: object, key: str) -> object:
        reads.append(key)
        return real_read(engine, key)  # type: ignore[arg-type]

    monkeypatch.setattr(paper_routes, "paper_page_row", counting_read)
    one, two = workers
    if app_state(one).response_cache.shared is None:
        pytest.skip("no /dev/shm: pages are not shared between workers here")
    # A worker trusts only pages rendered after its own first look at the store (it cannot know what
    # changed before it started), so both have served something already, as running servers have.
    TestClient(two).get("/")
    # PostgreSQL's version is server-wide, so background work (autoanalyze takes a transaction id) can
    # move it between two requests — which rightly retires the shared page. A few tries, one must share.
    for _attempt in range(5):
        reads.clear()
        for worker in (one, two):  # start each try afresh (an undeclared ?try=N is never cached)
            app_state(worker).response_cache.clear()
        shared = app_state(one).response_cache.shared
        assert shared is not None
        for stored in shared.folder.iterdir():
            stored.unlink()
        first = TestClient(one).get(PAPER)
        second = TestClient(two).get(PAPER)  # rendered by worker one: shared
        assert second.text == first.text
        if reads == ["2503.40001"]:
            break
    else:
        pytest.fail(f"worker two rendered the page again every time: {reads}")
    reads.clear()
    assert TestClient(two).get(PAPER).text == first.text and reads == []  # both hold the page now
    upsert_papers(app_state(one).engine,
                  [Paper(title="Renamed", arxiv_id="2503.40001", version=9, source="test")])
    third = TestClient(two).get(PAPER)  # the store changed: neither copy may be used
    assert reads == ["2503.40001"] and "Renamed" in third.text
    assert "Renamed" in TestClient(one).get(PAPER).text


def test_a_shared_page_folder_others_can_write_to_is_not_used(tmp_path: Path) -> None:
    from paperscope.web.shared_cache import SharedPages

    planted = tmp_path / "pages"
    planted.mkdir()
    planted.chmod(0o777)  # e.g. made in advance by another local user
    pages = SharedPages(planted)
    pages.put(b"/papers/x?#", time.monotonic(), [(b"content-type", b"text/html")], b"page")
    assert not pages.usable() and pages.get(b"/papers/x?#", 0.0) is None and not list(planted.iterdir())
    own = SharedPages(tmp_path / "own")
    own.put(b"/papers/x?#", time.monotonic(), [(b"content-type", b"text/html")], b"page")
    assert own.get(b"/papers/x?#", 0.0) == ([(b"content-type", b"text/html")], b"page")
    assert own.get(b"/papers/x?#", time.monotonic()) is None  # rendered before the store last changed
