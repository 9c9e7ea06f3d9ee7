"""Groups and shared collections: the real huggingface_hub client against a live server (create, add,
get, list by paper, move, remove), two accounts seeing the same collection, a non-member getting 404, the
paper page's "In:" line, group pages, and bulk adds that are all or nothing."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from paperscope.settings import Settings
from paperscope.store import users as user_store
from paperscope.store.collections import MAX_ITEMS
from paperscope.web.app_state import app_state
from tests.community_support import add_user, make_app, page_csrf, sign_in
from tests.support.web_data import live_server

hf = pytest.importorskip("huggingface_hub", reason="huggingface_hub not installed (pip install '.[dev]')")
from huggingface_hub.errors import HfHubHTTPError  # noqa: E402


@dataclass
class Lab:
    url: str
    tokens: dict[str, str]
    app: Any

    def hub(self, who: str | None) -> Any:
        return hf.HfApi(endpoint=self.url, token=self.tokens[who] if who else False)

    def call(self, who: str, method: str, path: str, **kw: Any) -> httpx.Response:
        return httpx.request(method, self.url + path, headers={"Authorization": f"Bearer {self.tokens[who]}"},
                             timeout=30, **kw)


@pytest.fixture
def lab(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Lab]:
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.setenv("HF_TOKEN", "")
    app, _ = make_app(settings)
    tokens = {}
    for name in ("alice", "bob", "carol"):
        user = add_user(app_state(app).engine, name)
        tokens[name] = "ps_" + secrets.token_urlsafe(24)
        user_store.create_api_token(app_state(app).engine, user.id, "test", tokens[name])
    with live_server(app) as url:
        yield Lab(url, tokens, app)
    app_state(app).engine.dispose()


def test_group_collection_through_the_hugging_face_client(lab: Lab) -> None:
    assert lab.call("alice", "POST", "/api/groups", json={"slug": "nlp-rg", "name": "NLP reading group"}
                    ).status_code == 201
    added = lab.call("alice", "POST", "/api/groups/nlp-rg/members", json={"username": "bob"})
    assert [m["username"] for m in added.json()["members"]] == ["alice", "bob"]
    alice, bob, carol = lab.hub("alice"), lab.hub("bob"), lab.hub("carol")

    coll = alice.create_collection("Reading group W48", namespace="nlp-rg", private=True,
                                   description="papers for Thursday")
    assert coll.slug.startswith("nlp-rg/reading-group-w48-") and coll.private and coll.items == []
    again = alice.create_collection("Reading group W48", namespace="nlp-rg", exists_ok=True)
    assert again.slug == coll.slug
    with pytest.raises(HfHubHTTPError) as clash:
        alice.create_collection("Reading group W48", namespace="nlp-rg")
    assert clash.value.response.status_code == 409

    after = alice.add_collection_item(coll.slug, "2503.10001", "paper", note="start here")
    assert [(i.item_id, i.item_type, i.note) for i in after.items] == [("2503.10001", "paper", "start here")]
    # A member sees it at once and adds to it; the owner sees that.
    seen = bob.get_collection(coll.slug)
    assert seen.title == "Reading group W48" and [i.item_id for i in seen.items] == ["2503.10001"]
    bob.add_collection_item(coll.slug, "https://arxiv.org/abs/2503.20002v1", "paper")
    assert [i.item_id for i in alice.get_collection(coll.slug).items] == ["2503.10001", "2503.20002"]
    # Not a member, or not signed in: as if it did not exist.
    for outsider in (carol, lab.hub(None)):
        with pytest.raises(HfHubHTTPError) as hidden:
            outsider.get_collection(coll.slug)
        assert hidden.value.response.status_code == 404
    with pytest.raises(HfHubHTTPError) as refused:
        carol.add_collection_item(coll.slug, "2503.40001", "paper")
    assert refused.value.response.status_code == 404

    assert [c.slug for c in bob.list_collections(item="papers/2503.10001")] == [coll.slug]
    assert list(carol.list_collections(item="papers/2503.10001")) == []
    assert list(bob.list_collections(item="models/some/model")) == []

    with pytest.raises(HfHubHTTPError) as dup:
        alice.add_collection_item(coll.slug, "2503.10001", "paper")
    assert dup.value.response.status_code == 409
    assert len(alice.add_collection_item(coll.slug, "2503.10001", "paper", exists_ok=True).items) == 2
    for bad_id, kind, status in (("2401.99999", "paper", 404), ("some/model", "model", 400)):
        with pytest.raises(HfHubHTTPError) as err:
            alice.add_collection_item(coll.slug, bad_id, kind)
        assert err.value.response.status_code == status

    second = alice.get_collection(coll.slug).items[1]
    alice.update_collection_item(coll.slug, second.item_object_id, position=0, note="read first")
    moved = bob.get_collection(coll.slug).items
    assert [(i.item_id, i.note) for i in moved] == [("2503.20002", "read first"),
                                                    ("2503.10001", "start here")]
    bob.delete_collection_item(coll.slug, moved[1].item_object_id)
    assert [i.item_id for i in alice.get_collection(coll.slug).items] == ["2503.20002"]

    mine = alice.create_collection("To read")  # namespace from whoami
    assert mine.slug.startswith("alice/to-read-") and not mine.private
    assert any(c.slug == mine.slug for c in carol.list_collections(owner="alice"))  # public
    alice.delete_collection(mine.slug)
    with pytest.raises(HfHubHTTPError):
        alice.get_collection(mine.slug)


def test_bad_input_is_refused_and_nothing_is_stored(lab: Lab) -> None:
    alice = lab.hub("alice")
    coll = alice.create_collection("Big one", private=True)
    slug = coll.slug
    huge = {"items": [{"id": f"2503.{i:05d}", "type": "paper"} for i in range(100_000)]}
    r = lab.call("alice", "POST", f"/api/collections/{slug}/items", json=huge)
    assert r.status_code == 413 and "request body over" in r.json()["error"]  # the app's body cap
    over = {"items": [{"id": f"2503.{i:05d}", "type": "paper"} for i in range(MAX_ITEMS + 1)]}
    r = lab.call("alice", "POST", f"/api/collections/{slug}/items", json=over)
    assert r.status_code == 413 and f"at most {MAX_ITEMS}" in r.json()["error"]
    partly_unknown = {"items": [{"id": "2503.10001", "type": "paper"}, {"id": "2401.99999", "type": "paper"}]}
    r = lab.call("alice", "POST", f"/api/collections/{slug}/items", json=partly_unknown)
    assert r.status_code == 404
    assert alice.get_collection(slug).items == []  # all or nothing
    two = {"items": [{"id": "2503.10001", "type": "paper"}, {"id": "2503.20002", "type": "paper"}]}
    assert len(lab.call("alice", "POST", f"/api/collections/{slug}/items", json=two).json()["items"]) == 2
    r = lab.call("alice", "POST", "/api/collections", json={"title": "x" * 10_000})
    assert r.status_code == 422
    r = lab.call("alice", "POST", "/api/collections", json={"title": "Elsewhere", "namespace": "nlp-rg"})
    assert r.status_code == 403  # not a group alice is in
    r = lab.call("alice", "POST", f"/api/collections/{slug}/items",
                 json={"item": {"id": "2503.10001", "type": "paper"}, "note": "n" * 501})
    assert r.status_code == 422
    assert len(alice.get_collection(slug).items) == 2


def test_pages_show_collections_to_members_only(settings: Settings) -> None:
    app, _ = make_app(settings)
    for name in ("alice", "bob", "carol"):
        add_user(app_state(app).engine, name)
    alice, bob, carol = TestClient(app), TestClient(app), TestClient(app)
    for client, name in ((alice, "alice"), (bob, "bob"), (carol, "carol")):
        assert sign_in(client, name) == 303
    r = alice.post("/groups", data={"slug": "nlp-rg", "name": "NLP reading group",
                                    "csrf": page_csrf(alice, "/groups")}, follow_redirects=False)
    assert r.headers["location"] == "/groups/nlp-rg"
    alice.post("/groups/nlp-rg/members", data={"username": "bob", "csrf": page_csrf(alice, "/groups/nlp-rg")})
    r = alice.post("/collections", data={"title": "Reading group W48", "owner": "nlp-rg",
                                         "visibility": "group", "csrf": page_csrf(alice, "/collections")},
                   follow_redirects=False)
    slug = r.headers["location"].removeprefix("/collections/")
    # Bob adds a paper from its page; its page then says where it is.
    bob.post("/papers/2503.40001/collect", data={"collection": slug, "note": "for W48",
                                                  "csrf": page_csrf(bob, "/papers/2503.40001")})
    assert "Reading group W48" in bob.get("/papers/2503.40001").text
    assert bob.get("/papers/2503.40001?format=json").json()["in_collections"][0]["slug"] == slug
    page = alice.get(f"/collections/{slug}")
    assert page.status_code == 200 and "Late Interaction at Scale" in page.text and "for W48" in page.text
    twin = alice.get(f"/collections/{slug}?format=json").json()
    assert twin["owner"]["name"] == "nlp-rg" and [i["id"] for i in twin["items"]] == ["2503.40001"]
    # Carol, outside the group, sees nothing of it.
    assert "Reading group W48" not in carol.get("/papers/2503.40001").text
    assert carol.get(f"/collections/{slug}").status_code == 404
    assert carol.get("/groups/nlp-rg").status_code == 404
    assert "Reading group W48" not in carol.get("/collections").text
    assert TestClient(app).get(f"/collections/{slug}?format=json").status_code == 404
    members = bob.get("/groups/nlp-rg?format=json").json()
    assert [m["username"] for m in members["members"]] == ["alice", "bob"]
    assert members["collections"][0]["slug"] == slug
    # Bulk add by form: every id or none.
    r = alice.post(f"/collections/{slug}/items", data={"ids": "2503.10001\n2401.99999",
                                                       "csrf": page_csrf(alice, f"/collections/{slug}")})
    assert r.status_code == 404
    r = alice.post(f"/collections/{slug}/items", data={"ids": "2503.10001, 2503.20002",
                                                       "csrf": page_csrf(alice, f"/collections/{slug}")})
    assert r.status_code == 200
    assert len(alice.get(f"/collections/{slug}?format=json").json()["items"]) == 3
    app_state(app).engine.dispose()
