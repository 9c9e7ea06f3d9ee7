"""Groups: a page per group (members, its collections) for its members only, and forms / JSON to create
a group and to add or remove members (owners). Non-members get 404 for everything about a group."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Path, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field

from paperscope.store import collections as collection_store
from paperscope.store import groups as group_store
from paperscope.store import users as user_store
from paperscope.store.groups import Group, GroupProblem
from paperscope.store.users import User
from paperscope.web import security
from paperscope.web.app_state import state
from paperscope.web.rendering import JsonResponse, page_or_json, wants_json

router = APIRouter(tags=["groups"])
Slug = Annotated[str, Path(max_length=64)]
Csrf = Annotated[str | None, Form(max_length=400)]


class NewGroup(BaseModel):
    slug: str = Field(min_length=2, max_length=63)
    name: str = Field(min_length=1, max_length=100)


class NewMember(BaseModel):
    username: str = Field(min_length=1, max_length=320)
    role: str = Field(default="member", max_length=16)


def _member_group(request: Request, slug: str, user: User) -> Group:
    group = group_store.group_for(state(request).engine, slug, user.id)
    if group is None:
        raise HTTPException(status_code=404, detail=f"no group {slug!r}")
    return group


def _owned_group(request: Request, slug: str, user: User) -> Group:
    group = _member_group(request, slug, user)
    if group.role != "owner":
        raise HTTPException(status_code=403, detail="only the group's owners may change its members")
    return group


def _group_json(request: Request, group: Group) -> dict[str, Any]:
    engine = state(request).engine
    members = group_store.members_of(engine, group.id)
    owned = [c for c in collection_store.list_collections(engine, security.require_user(request).id,
                                                          owner=group.slug)]
    return {"slug": group.slug, "name": group.name, "your_role": group.role,
            "members": [{"username": m.username, "role": m.role, "added_at": m.added_at.isoformat()}
                        for m in members],
            "collections": [{"slug": c.slug, "title": c.title, "visibility": c.visibility,
                             "url": f"/collections/{c.slug}"} for c in owned]}


def _refused(request: Request, exc: GroupProblem) -> Response:
    if wants_json(request) or request.url.path.startswith("/api/"):
        return JsonResponse({"error": str(exc), "status": exc.status}, status_code=exc.status)
    raise HTTPException(status_code=exc.status, detail=str(exc))


@router.get("/groups", summary="Your groups")
def groups_page(request: Request) -> Response:
    user = security.require_user(request)
    mine = group_store.groups_of(state(request).engine, user.id)
    data = {"groups": [{"slug": g.slug, "name": g.name, "your_role": g.role, "url": f"/groups/{g.slug}"}
                       for g in mine]}
    return page_or_json(request, "groups/list.html", data,
                        {"title": "Groups", "csrf": security.csrf_token(request)})


def _create(request: Request, user: User, slug: str, name: str) -> Group:
    return group_store.create_group(state(request).engine, slug, name, user.id, security.now(request))


@router.post("/groups", summary="Create a group (form)")
def create_group_form(request: Request, slug: Annotated[str, Form(max_length=63)],
                      name: Annotated[str, Form(max_length=100)], csrf: Csrf = None) -> Response:
    user = security.require_user(request)
    security.check_csrf(request, csrf)
    try:
        group = _create(request, user, slug, name)
    except GroupProblem as exc:
        return _refused(request, exc)
    return RedirectResponse(f"/groups/{group.slug}", status_code=303)


@router.post("/api/groups", summary="Create a group", status_code=201)
def create_group_api(request: Request, body: NewGroup) -> Response:
    user = security.api_writer(request)
    try:
        group = _create(request, user, body.slug, body.name)
    except GroupProblem as exc:
        return _refused(request, exc)
    return JsonResponse(_group_json(request, group), status_code=201)


@router.get("/groups/{slug}", summary="A group's page (members only)")
def group_page(request: Request, slug: Slug) -> Response:
    user = security.require_user(request)
    group = _member_group(request, slug, user)
    return page_or_json(request, "groups/group.html", _group_json(request, group),
                        {"title": group.name, "csrf": security.csrf_token(request)})


def _add(request: Request, user: User, slug: str, username: str, role: str) -> Group:
    group = _owned_group(request, slug, user)
    engine = state(request).engine
    member = user_store.find_user(engine, username)
    if member is None:
        raise GroupProblem(f"no account {username[:80]!r}", 404)
    group_store.add_member(engine, group.id, member.id, role, security.now(request))
    return group


@router.post("/groups/{slug}/members", summary="Add a member (form, owners)")
def add_member_form(request: Request, slug: Slug, username: Annotated[str, Form(max_length=320)],
                    role: Annotated[str, Form(max_length=16)] = "member", csrf: Csrf = None) -> Response:
    user = security.require_user(request)
    security.check_csrf(request, csrf)
    try:
        _add(request, user, slug, username, role)
    except GroupProblem as exc:
        return _refused(request, exc)
    return RedirectResponse(f"/groups/{slug}", status_code=303)


@router.post("/api/groups/{slug}/members", summary="Add a member (owners)")
def add_member_api(request: Request, slug: Slug, body: NewMember) -> Response:
    user = security.api_writer(request)
    try:
        group = _add(request, user, slug, body.username, body.role)
    except GroupProblem as exc:
        return _refused(request, exc)
    return JsonResponse(_group_json(request, group))


@router.post("/groups/{slug}/members/{username}/remove", summary="Remove a member (owners, or yourself)")
def remove_member_form(request: Request, slug: Slug, username: Annotated[str, Path(max_length=40)],
                       csrf: Csrf = None) -> Response:
    user = security.require_user(request)
    security.check_csrf(request, csrf)
    engine = state(request).engine
    group = _member_group(request, slug, user)
    leaving = username.lower() == user.username.lower()
    if not leaving and group.role != "owner":
        raise HTTPException(status_code=403, detail="only the group's owners may remove members")
    member = user_store.find_user(engine, username)
    try:
        if member is None or not group_store.remove_member(engine, group.id, member.id):
            raise HTTPException(status_code=404, detail=f"{username!r} is not in this group")
    except GroupProblem as exc:
        return _refused(request, exc)
    return RedirectResponse("/groups" if leaving else f"/groups/{slug}", status_code=303)
