"""Collections through Hugging Face's API shape, so `huggingface_hub.HfApi(endpoint=...)` works unchanged:
`create_collection`, `get_collection`, `list_collections(item="papers/<id>")`, `add_collection_item`,
`update_collection_item`, `delete_collection_item`, `update_collection_metadata`, `delete_collection`,
and `whoami` (`/api/whoami-v2`, which `create_collection` asks for the default namespace).

Writes need a bearer token (or a session cookie plus X-CSRF-Token). A collection the caller may not see is
404, never 403, so nobody learns that it exists. Only papers can be collected here.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from paperscope.store import collections as collection_store
from paperscope.store import groups as group_store
from paperscope.store.collections import Collection, CollectionProblem
from paperscope.store.users import User
from paperscope.web import security
from paperscope.web.app_state import state
from paperscope.web.collections_view import collection_json
from paperscope.web.rendering import JsonResponse
from paperscope.web.routes.papers import paper_key

router = APIRouter(tags=["collections"])
Namespace = Annotated[str, Path(max_length=64)]
Name = Annotated[str, Path(max_length=140)]
ItemId = Annotated[int, Path(ge=1, le=2**31 - 1)]
LIST_PREVIEW = 4  # items per collection in listings, as on huggingface.co


class NewCollection(BaseModel):
    title: str = Field(min_length=1, max_length=collection_store.MAX_TITLE)
    namespace: str | None = Field(default=None, max_length=64)
    description: str | None = Field(default=None, max_length=collection_store.MAX_DESCRIPTION)
    private: bool = False
    visibility: str | None = Field(default=None, max_length=16)  # paperscope: private | group | public


class ItemRef(BaseModel):
    id: str = Field(min_length=1, max_length=200)
    type: str = Field(max_length=32)


class NewItem(BaseModel):
    item: ItemRef | None = None
    items: list[ItemRef] | None = None  # paperscope: many at once, all or nothing
    note: str | None = Field(default=None, max_length=collection_store.MAX_NOTE)


class ItemChange(BaseModel):
    note: str | None = Field(default=None, max_length=collection_store.MAX_NOTE)
    position: int | None = Field(default=None, ge=0, le=collection_store.MAX_ITEMS)


class CollectionChange(BaseModel):
    title: str | None = Field(default=None, min_length=1, max_length=collection_store.MAX_TITLE)
    description: str | None = Field(default=None, max_length=collection_store.MAX_DESCRIPTION)
    private: bool | None = None
    visibility: str | None = Field(default=None, max_length=16)
    position: int | None = None
    theme: str | None = Field(default=None, max_length=32)


def problem(exc: CollectionProblem) -> Response:
    """A refused change as JSON (409s carry the existing slug, as huggingface.co's do)."""
    body: dict[str, Any] = {"error": str(exc), "status": exc.status}
    if exc.slug:
        body["slug"] = exc.slug
    return JsonResponse(body, status_code=exc.status)


def viewer_id(request: Request) -> int | None:
    """The id collections are filtered by: a signed-in account with a confirmed address, else None."""
    user = security.viewer(request)
    return user.id if user is not None and user.verified else None


def visible(request: Request, slug: str) -> Collection:
    """The collection if the caller may see it, else 404."""
    coll = collection_store.get_collection(state(request).engine, slug, viewer_id(request))
    if coll is None:
        raise HTTPException(status_code=404, detail=f"no collection {slug!r}")
    return coll


def editable(request: Request, user: User, slug: str, *, manage: bool = False) -> Collection:
    """The collection if `user` may change its items (or, with `manage`, the collection itself)."""
    coll = visible(request, slug)
    engine = state(request).engine
    allowed = (collection_store.can_manage if manage else collection_store.can_edit)(engine, coll, user.id)
    if not allowed:
        raise HTTPException(status_code=403, detail="you may not change this collection")
    return coll


def full_json(request: Request, coll: Collection) -> dict[str, Any]:
    items = collection_store.items_of(state(request).engine, [coll.id])[coll.id]
    return collection_json(coll, items)


def owner_for(request: Request, user: User, namespace: str | None) -> tuple[int | None, int | None, str]:
    """(owner_user, owner_group, namespace) for a new collection: the caller, or a group it is in."""
    if namespace is None or namespace.lower() == user.username.lower():
        return user.id, None, user.username
    group = group_store.group_for(state(request).engine, namespace, user.id)
    if group is None:
        raise HTTPException(status_code=403, detail=f"you can create collections only for yourself or "
                                                    f"a group you are in, not {namespace!r}")
    return None, group.id, group.slug


def visibility_of(private: bool | None, visibility: str | None, group_owned: bool) -> str | None:
    if visibility is not None:
        return visibility
    if private is None:
        return None
    return ("group" if group_owned else "private") if private else "public"


@router.get("/api/whoami-v2", summary="The caller (Hugging Face shape)")
def whoami(request: Request) -> Response:
    user = security.require_user(request)
    orgs = [{"name": g.slug, "fullname": g.name, "type": "org", "roleInOrg": g.role}
            for g in group_store.groups_of(state(request).engine, user.id)]
    return JsonResponse({"type": "user", "name": user.username, "fullname": user.username, "orgs": orgs,
                         "auth": {"type": "access_token"}})


@router.get("/api/collections", summary="List collections (Hugging Face shape)")
def list_collections(request: Request, owner: Annotated[str | None, Query(max_length=64)] = None,
                     item: Annotated[str | None, Query(max_length=220)] = None,
                     sort: Annotated[str | None, Query(max_length=32)] = None,
                     limit: Annotated[int, Query(ge=1, le=100)] = 100) -> Response:
    """Visible collections, most recently updated first; `item=papers/<id>` keeps those holding a paper.
    Each lists its first four items, like huggingface.co."""
    paper_id: str | None = None
    if item is not None:
        kind, _, ident = item.partition("/")
        if kind != "papers" or not ident:
            return JsonResponse([])  # models, datasets, spaces: none here
        try:
            paper_id = paper_key(ident)
        except HTTPException:
            return JsonResponse([])
    engine = state(request).engine
    found = collection_store.list_collections(engine, viewer_id(request), owner=owner, paper_id=paper_id,
                                              limit=limit)
    previews = collection_store.items_of(engine, [c.id for c in found], per_collection=LIST_PREVIEW)
    return JsonResponse([collection_json(c, previews[c.id], listed=True) for c in found])


@router.post("/api/collections", summary="Create a collection (Hugging Face shape)")
def create_collection(request: Request, body: NewCollection) -> Response:
    user = security.api_writer(request)
    owner_user, owner_group, namespace = owner_for(request, user, body.namespace)
    visibility = visibility_of(body.private, body.visibility, owner_group is not None) or "public"
    try:
        coll = collection_store.create_collection(
            state(request).engine, title=body.title, description=body.description or "", namespace=namespace,
            owner_user=owner_user, owner_group=owner_group, visibility=visibility, now=security.now(request))
    except CollectionProblem as exc:
        return problem(exc)
    return JsonResponse(collection_json(coll, []))


@router.get("/api/collections/{namespace}/{name}", summary="A collection (Hugging Face shape)")
def get_collection(request: Request, namespace: Namespace, name: Name) -> Response:
    return JsonResponse(full_json(request, visible(request, f"{namespace}/{name}")))


@router.patch("/api/collections/{namespace}/{name}", summary="Change a collection (Hugging Face shape)")
def update_collection(request: Request, namespace: Namespace, name: Name, body: CollectionChange) -> Response:
    user = security.api_writer(request)
    coll = editable(request, user, f"{namespace}/{name}", manage=True)
    engine = state(request).engine
    try:
        collection_store.update_collection(
            engine, coll, title=body.title, description=body.description,
            visibility=visibility_of(body.private, body.visibility, coll.owner_group is not None),
            now=security.now(request))
    except CollectionProblem as exc:
        return problem(exc)
    fresh = collection_store.get_collection(engine, f"{namespace}/{name}", user.id) or next(
        c for c in collection_store.list_collections(engine, user.id, owner=coll.owner) if c.id == coll.id)
    return JsonResponse({"data": full_json(request, fresh)})


@router.delete("/api/collections/{namespace}/{name}", summary="Delete a collection (Hugging Face shape)")
def delete_collection(request: Request, namespace: Namespace, name: Name) -> Response:
    user = security.api_writer(request)
    collection_store.delete_collection(state(request).engine,
                                       editable(request, user, f"{namespace}/{name}", manage=True))
    return JsonResponse({"deleted": f"{namespace}/{name}"})


def add_papers(request: Request, user: User, coll: Collection, ids: list[str], note: str,
               exists_ok: bool) -> int:
    """Add papers by id as users write them (all or nothing); CollectionProblem on refusal."""
    keys: list[str] = []
    for ident in ids:
        try:
            keys.append(paper_key(ident))
        except HTTPException:
            raise CollectionProblem(f"not a paper id: {ident[:200]!r}; nothing was added", 400) from None
    return collection_store.add_items(state(request).engine, coll, keys, note=note, user_id=user.id,
                                      now=security.now(request), exists_ok=exists_ok)


@router.post("/api/collections/{namespace}/{name}/items", summary="Add papers (Hugging Face shape)")
def add_item(request: Request, namespace: Namespace, name: Name, body: NewItem) -> Response:
    """One item (`item`), as huggingface.co takes it, or many (`items`: all added, or none)."""
    user = security.api_writer(request)
    coll = editable(request, user, f"{namespace}/{name}")
    refs = ([body.item] if body.item is not None else []) + (body.items or [])
    if not refs:
        return JsonResponse({"error": "give an item ({'id': ..., 'type': 'paper'})", "status": 400}, 400)
    if any(r.type != "paper" for r in refs):
        return JsonResponse({"error": "paperscope collections hold papers only (type 'paper')",
                             "status": 400}, status_code=400)
    try:
        add_papers(request, user, coll, [r.id for r in refs], body.note or "", exists_ok=body.item is None)
    except CollectionProblem as exc:
        return problem(exc)
    return JsonResponse(full_json(request, coll))


@router.patch("/api/collections/{namespace}/{name}/items/{item_id}", summary="Change an item")
def update_item(request: Request, namespace: Namespace, name: Name, item_id: ItemId,
                body: ItemChange) -> Response:
    user = security.api_writer(request)
    coll = editable(request, user, f"{namespace}/{name}")
    try:
        done = collection_store.update_item(state(request).engine, coll, item_id, note=body.note,
                                            position=body.position, now=security.now(request))
    except CollectionProblem as exc:
        return problem(exc)
    if not done:
        raise HTTPException(status_code=404, detail="no such item in this collection")
    return JsonResponse(full_json(request, coll))


@router.delete("/api/collections/{namespace}/{name}/items/{item_id}", summary="Remove an item")
def delete_item(request: Request, namespace: Namespace, name: Name, item_id: ItemId) -> Response:
    user = security.api_writer(request)
    coll = editable(request, user, f"{namespace}/{name}")
    if not collection_store.delete_item(state(request).engine, coll, item_id, security.now(request)):
        raise HTTPException(status_code=404, detail="no such item in this collection")
    return JsonResponse(full_json(request, coll))
