"""Collection pages: the list of collections a viewer may see (with a form to make one), a page per
collection (items with notes; add papers by id, remove them), and "Add to collection" from a paper page.
Each page has its JSON twin (the collection in Hugging Face's shape)."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Path, Request
from fastapi.responses import RedirectResponse, Response

from paperscope.store import collections as collection_store
from paperscope.store import groups as group_store
from paperscope.store.collections import CollectionProblem
from paperscope.web import security
from paperscope.web.app_state import state
from paperscope.web.collections_view import collection_json
from paperscope.web.rendering import JsonResponse, page_or_json, wants_json
from paperscope.web.routes.collections_api import (
    Name,
    Namespace,
    add_papers,
    editable,
    owner_for,
    viewer_id,
    visible,
)
from paperscope.web.routes.papers import paper_key

router = APIRouter(tags=["collections"])
Csrf = Annotated[str | None, Form(max_length=400)]
# A pasted list of ids: up to MAX_ITEMS of them with room for URLs; longer is a 422.
IDS_FIELD = 200_000


def _refused(request: Request, exc: CollectionProblem) -> Response:
    if wants_json(request):
        return JsonResponse({"error": str(exc), "status": exc.status}, status_code=exc.status)
    raise HTTPException(status_code=exc.status, detail=str(exc))


@router.get("/collections", summary="Collections you can see")
def collections_page(request: Request) -> Response:
    engine = state(request).engine
    uid = viewer_id(request)
    found = collection_store.list_collections(engine, uid, limit=100)
    data = {"collections": [{"slug": c.slug, "title": c.title, "owner": c.owner, "visibility": c.visibility,
                             "updated": c.updated_at.isoformat(), "url": f"/collections/{c.slug}"}
                            for c in found]}
    context: dict[str, Any] = {"title": "Collections"}
    if uid is not None:
        context |= {"csrf": security.csrf_token(request),
                    "owners": [security.require_user(request).username]
                    + [g.slug for g in group_store.groups_of(engine, uid)]}
    return page_or_json(request, "collections/list.html", data, context)


@router.post("/collections", summary="Create a collection (form)")
def create_collection_form(request: Request, title: Annotated[str, Form(max_length=200)],
                           owner: Annotated[str, Form(max_length=64)] = "",
                           visibility: Annotated[str, Form(max_length=16)] = "group",
                           description: Annotated[str, Form(max_length=2000)] = "",
                           csrf: Csrf = None) -> Response:
    user = security.require_user(request)
    security.check_csrf(request, csrf)
    owner_user, owner_group, namespace = owner_for(request, user, owner or None)
    try:
        coll = collection_store.create_collection(
            state(request).engine, title=title, description=description, namespace=namespace,
            owner_user=owner_user, owner_group=owner_group, visibility=visibility, now=security.now(request))
    except CollectionProblem as exc:
        return _refused(request, exc)
    return RedirectResponse(f"/collections/{coll.slug}", status_code=303)


@router.get("/collections/{namespace}/{name}", summary="A collection's page")
def collection_page(request: Request, namespace: Namespace, name: Name) -> Response:
    coll = visible(request, f"{namespace}/{name}")
    engine = state(request).engine
    items = collection_store.items_of(engine, [coll.id])[coll.id]
    data = collection_json(coll, items)
    user = security.viewer(request)
    can_edit = bool(user and user.verified and collection_store.can_edit(engine, coll, user.id))
    context: dict[str, Any] = {"title": coll.title, "can_edit": can_edit}
    if can_edit:
        context["csrf"] = security.csrf_token(request)
    return page_or_json(request, "collections/collection.html", data, context)


_IDS = re.compile(r"[\s,]+")


@router.post("/collections/{namespace}/{name}/items", summary="Add papers by id (form)")
def add_items_form(request: Request, namespace: Namespace, name: Name,
                   ids: Annotated[str, Form(max_length=IDS_FIELD)],
                   note: Annotated[str, Form(max_length=collection_store.MAX_NOTE)] = "",
                   csrf: Csrf = None) -> Response:
    """Paste ids or arXiv URLs (any whitespace or commas between): every one is added, or none."""
    user = security.require_user(request)
    security.check_csrf(request, csrf)
    coll = editable(request, user, f"{namespace}/{name}")
    wanted = [i for i in _IDS.split(ids) if i]
    if not wanted:
        raise HTTPException(status_code=400, detail="give at least one paper id")
    try:
        add_papers(request, user, coll, wanted, note.strip(), exists_ok=True)
    except CollectionProblem as exc:
        return _refused(request, exc)
    return RedirectResponse(f"/collections/{coll.slug}", status_code=303)


@router.post("/collections/{namespace}/{name}/items/{item_id}/remove", summary="Remove a paper (form)")
def remove_item_form(request: Request, namespace: Namespace, name: Name,
                     item_id: Annotated[int, Path(ge=1, le=2**31 - 1)], csrf: Csrf = None) -> Response:
    user = security.require_user(request)
    security.check_csrf(request, csrf)
    coll = editable(request, user, f"{namespace}/{name}")
    if not collection_store.delete_item(state(request).engine, coll, item_id, security.now(request)):
        raise HTTPException(status_code=404, detail="no such item in this collection")
    return RedirectResponse(f"/collections/{coll.slug}", status_code=303)


@router.post("/papers/{paper_id:path}/collect", summary="Add a paper to one of your collections (form)")
def collect_paper(request: Request, paper_id: Annotated[str, Path(max_length=200)],
                  collection: Annotated[str, Form(max_length=200)],
                  note: Annotated[str, Form(max_length=collection_store.MAX_NOTE)] = "",
                  csrf: Csrf = None) -> Response:
    user = security.require_user(request)
    security.check_csrf(request, csrf)
    key = paper_key(paper_id)
    coll = editable(request, user, collection)
    try:
        collection_store.add_items(state(request).engine, coll, [key], note=note.strip(), user_id=user.id,
                                   now=security.now(request), exists_ok=True)
    except CollectionProblem as exc:
        return _refused(request, exc)
    return RedirectResponse(f"/papers/{key}", status_code=303)
