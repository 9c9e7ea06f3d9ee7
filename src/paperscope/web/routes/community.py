"""Community: upvotes, comments, moderation — as forms and JSON API (submissions: `submissions.py`).

Forms post to `/papers/{id}/upvote` etc. with a CSRF token and redirect back; the JSON API lives under
`/api/v1/` and accepts `Authorization: Bearer <token>` (or the session cookie plus `X-CSRF-Token`).
Counts shown anywhere are Hugging Face upvotes + local upvotes (`Paper.upvotes`).
"""

from __future__ import annotations

import logging
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, HTTPException, Path, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field

from paperscope.feed.trending import SUBMISSION_WEIGHT, add_event, trend_of
from paperscope.model import Paper
from paperscope.store import comments as comment_store
from paperscope.store import get_paper
from paperscope.store import users as user_store
from paperscope.store import votes as vote_store
from paperscope.store.comments import Comment
from paperscope.store.users import User
from paperscope.web import security
from paperscope.web.app_state import state
from paperscope.web.community_view import EDIT_WINDOW, comment_json, paper_extras
from paperscope.web.params import RowId
from paperscope.web.rendering import JsonResponse, is_htmx, local_path, render, wants_json
from paperscope.web.routes.papers import find_paper, paper_page_response
from paperscope.web.serialize import paper_json

log = logging.getLogger("paperscope.community")
router = APIRouter(tags=["community"])

MAX_COMMENT = 10_000
PaperId = Annotated[str, Path(max_length=200)]
Csrf = Annotated[str | None, Form(max_length=400)]  # optional so a missing token is a 403, not a 422
# No min_length: an empty or blank comment comes back to the form with a message, not a 422 page.
CommentBody = Annotated[str, Form(max_length=MAX_COMMENT)]


def _changed(request: Request) -> None:
    # Anonymous pages are cached for a few seconds; what they show just changed.
    state(request).response_cache.clear()


def _back(request: Request, paper: Paper, anchor: str = "") -> RedirectResponse:
    return RedirectResponse(f"/papers/{paper.paper_id}{anchor}", status_code=303)


# Votes -------------------------------------------------------------------------------------------------

def _vote(request: Request, user: User, paper: Paper, up: bool) -> dict[str, Any]:
    engine = state(request).engine
    rowid = paper.rowid or 0
    if up:
        result = vote_store.upvote(engine, user.id, rowid, security.now(request), add_event)
    else:
        result = vote_store.unvote(engine, user.id, rowid, trend_of, SUBMISSION_WEIGHT)
    if result.changed:
        _changed(request)
    fresh = get_paper(engine, paper.paper_id) or paper
    return {"id": paper.paper_id, "upvoted": up, "changed": result.changed, "upvotes": fresh.upvotes,
            "local_upvotes": fresh.local_upvotes, "hf_upvotes": fresh.hf.upvotes if fresh.hf else 0}


NextForm = Annotated[str | None, Form(max_length=500)]
ViewForm = Annotated[Literal["card", "page"], Form()]


def _voted(request: Request, paper: Paper, result: dict[str, Any], next_path: str | None,
           view: str) -> Response:
    """htmx gets the fresh control to swap in place (a card's ▲ or the paper page's button); a plain
    form goes back to the page it came from, query and all."""
    if is_htmx(request):
        fresh = {**paper_json(paper, with_abstract=False), "upvotes": result["upvotes"],
                 "upvoted_by_you": result["upvoted"]}
        template = "accounts/_card_vote.html" if view == "card" else "accounts/_vote_button.html"
        return render(request, template, {"p": fresh, "data": fresh})
    return RedirectResponse(local_path(next_path, f"/papers/{paper.paper_id}"), status_code=303)


@router.post("/papers/{paper_id:path}/upvote", summary="Upvote (form)")
def upvote_form(request: Request, paper_id: PaperId, csrf: Csrf = None, next: NextForm = None,
                view: ViewForm = "page") -> Response:
    user = security.require_user(request)
    security.check_csrf(request, csrf)
    paper = find_paper(request, paper_id)
    return _voted(request, paper, _vote(request, user, paper, True), next, view)


@router.post("/papers/{paper_id:path}/unvote", summary="Take an upvote back (form)")
def unvote_form(request: Request, paper_id: PaperId, csrf: Csrf = None, next: NextForm = None,
                view: ViewForm = "page") -> Response:
    user = security.require_user(request)
    security.check_csrf(request, csrf)
    paper = find_paper(request, paper_id)
    return _voted(request, paper, _vote(request, user, paper, False), next, view)


@router.post("/api/v1/papers/{paper_id:path}/upvote", summary="Upvote", tags=["community-api"])
def upvote_api(request: Request, paper_id: PaperId) -> Response:
    """One vote per account: repeating it changes nothing (`changed: false`)."""
    user = security.api_writer(request)
    return JsonResponse(_vote(request, user, find_paper(request, paper_id), True))


@router.delete("/api/v1/papers/{paper_id:path}/upvote", summary="Take an upvote back", tags=["community-api"])
def unvote_api(request: Request, paper_id: PaperId) -> Response:
    user = security.api_writer(request)
    return JsonResponse(_vote(request, user, find_paper(request, paper_id), False))


# Comments ----------------------------------------------------------------------------------------------

def _add_comment(request: Request, user: User, paper: Paper, body: str) -> Comment:
    if not body.strip():
        raise HTTPException(status_code=400, detail="a comment needs some text")
    comment = comment_store.add_comment(state(request).engine, paper.rowid or 0, user.id, body,
                                        security.now(request))
    _changed(request)
    return comment


def _edit_comment(request: Request, user: User, comment_id: int, body: str) -> Comment:
    engine = state(request).engine
    comment = comment_store.get_comment(engine, comment_id)
    if comment is None or comment.removed:
        raise HTTPException(status_code=404, detail="no such comment")
    if comment.user_id != user.id:
        raise HTTPException(status_code=403, detail="only its author can edit a comment")
    if not body.strip():
        raise HTTPException(status_code=400, detail="a comment needs some text")
    at = security.now(request)
    if not comment_store.edit_comment(engine, comment_id, user.id, body, at, at - EDIT_WINDOW):
        raise HTTPException(status_code=403, detail="the 15 minutes for editing this comment have passed; "
                                                    "your text is below, to post as a new comment")
    _changed(request)
    return comment_store.get_comment(engine, comment_id) or comment


def _remove_comment(request: Request, moderator: User, comment_id: int) -> Comment:
    engine = state(request).engine
    if not comment_store.remove_comment(engine, comment_id, moderator.id, security.now(request)):
        raise HTTPException(status_code=404, detail="no such comment")
    _changed(request)
    log.info("comment %d removed by %s", comment_id, moderator.username)
    comment = comment_store.get_comment(engine, comment_id)
    assert comment is not None
    return comment


def _paper_of(request: Request, comment: Comment) -> RedirectResponse:
    pid = vote_store.paper_id_of(state(request).engine, comment.paper_rowid)
    return RedirectResponse(f"/papers/{pid}#comments", status_code=303)


def _refused(request: Request, paper_id: str, exc: HTTPException, body: str,
             comment_id: int | None = None) -> Response:
    """The paper page again, with the reason and the person's text back in the form (never lost)."""
    form = {"error": exc.detail, "body": body, "comment_id": comment_id}
    return paper_page_response(request, paper_id, form, status_code=exc.status_code)


@router.post("/papers/{paper_id:path}/comments", summary="Comment (form)")
def comment_form(request: Request, paper_id: PaperId, body: CommentBody = "", csrf: Csrf = None) -> Response:
    user = security.require_user(request)
    security.check_csrf(request, csrf)
    paper = find_paper(request, paper_id)
    try:
        comment = _add_comment(request, user, paper, body)
    except HTTPException as exc:
        return _refused(request, paper.paper_id, exc, body)
    return _back(request, paper, f"#comment-{comment.id}")


@router.post("/comments/{comment_id}/edit", summary="Edit your comment (form)")
def edit_form(request: Request, comment_id: RowId, body: CommentBody = "",
              csrf: Csrf = None) -> Response:
    user = security.require_user(request)
    security.check_csrf(request, csrf)
    try:
        return _paper_of(request, _edit_comment(request, user, comment_id, body))
    except HTTPException as exc:
        comment = comment_store.get_comment(state(request).engine, comment_id)
        pid = vote_store.paper_id_of(state(request).engine, comment.paper_rowid) if comment else None
        if pid is None or exc.status_code == 404:
            raise
        # A blank edit goes back to that comment's form; a refused one (too late) to the new-comment
        # form, so the text can still be posted.
        return _refused(request, pid, exc, body, comment_id if exc.status_code == 400 else None)


@router.post("/comments/{comment_id}/delete", summary="Delete your own comment (form)")
def delete_form(request: Request, comment_id: Annotated[int, Path(ge=1)], csrf: Csrf = None) -> Response:
    user = security.require_user(request)
    security.check_csrf(request, csrf)
    return _paper_of(request, _delete_own_comment(request, user, comment_id))


def _delete_own_comment(request: Request, user: User, comment_id: int) -> Comment:
    comment = comment_store.get_comment(state(request).engine, comment_id)
    if comment is None or comment.removed:
        raise HTTPException(status_code=404, detail="no such comment")
    if comment.user_id != user.id and not user.is_moderator:
        raise HTTPException(status_code=403, detail="only its author can delete a comment")
    return _remove_comment(request, user, comment_id)


@router.post("/comments/{comment_id}/remove", summary="Remove a comment (moderators)")
def remove_form(request: Request, comment_id: RowId, csrf: Csrf = None) -> Response:
    moderator = security.require_moderator(request)
    security.check_csrf(request, csrf)
    return _paper_of(request, _remove_comment(request, moderator, comment_id))


class CommentIn(BaseModel):
    body: str = Field(min_length=1, max_length=MAX_COMMENT, description="Markdown")


@router.get("/api/v1/papers/{paper_id:path}/comments", summary="A paper's comments", tags=["community-api"])
def comments_api(request: Request, paper_id: PaperId) -> Response:
    paper = find_paper(request, paper_id)
    return JsonResponse(paper_extras(request, paper)["discussion"])


@router.post("/api/v1/papers/{paper_id:path}/comments", summary="Comment on a paper", tags=["community-api"],
             status_code=201)
def comment_api(request: Request, paper_id: PaperId, body: CommentIn) -> Response:
    user = security.api_writer(request)
    comment = _add_comment(request, user, find_paper(request, paper_id), body.body)
    return JsonResponse(comment_json(request, comment, user), status_code=201)


@router.patch("/api/v1/comments/{comment_id}", summary="Edit your comment (15 minutes)",
              tags=["community-api"])
def edit_api(request: Request, comment_id: RowId, body: CommentIn) -> Response:
    user = security.api_writer(request)
    return JsonResponse(comment_json(request, _edit_comment(request, user, comment_id, body.body), user))


@router.delete("/api/v1/comments/{comment_id}", summary="Delete a comment (its author, or moderators)",
               tags=["community-api"])
def remove_api(request: Request, comment_id: RowId) -> Response:
    user = security.api_writer(request)
    comment = _delete_own_comment(request, user, comment_id)
    return JsonResponse({"id": comment.id, "removed": True})


# Moderation --------------------------------------------------------------------------------------------

def _hide(request: Request, moderator: User, paper: Paper, hidden: bool) -> dict[str, Any]:
    vote_store.set_hidden(state(request).engine, paper.rowid or 0, hidden)
    _changed(request)
    log.info("paper %s %s by %s", paper.paper_id, "hidden" if hidden else "shown", moderator.username)
    return {"id": paper.paper_id, "hidden": hidden}


def _suspend(request: Request, moderator: User, username: str, suspended: bool) -> dict[str, Any]:
    engine = state(request).engine
    target = user_store.find_user(engine, username)
    if target is None:
        raise HTTPException(status_code=404, detail="no such user")
    if target.role == "admin" or (target.is_moderator and moderator.role != "admin"):
        raise HTTPException(status_code=403, detail="only an admin can suspend a moderator")
    user_store.set_status(engine, target.id, "suspended" if suspended else "active")
    log.info("user %s %s by %s", target.username, "suspended" if suspended else "reinstated",
             moderator.username)
    return {"username": target.username, "status": "suspended" if suspended else "active"}


@router.post("/moderation/papers/{paper_id:path}/hide", summary="Hide or show a paper (moderators)")
def hide_form(request: Request, paper_id: PaperId, csrf: Csrf = None,
              hidden: Annotated[bool, Form()] = True) -> Response:
    moderator = security.require_moderator(request)
    security.check_csrf(request, csrf)
    paper = find_paper(request, paper_id)
    _hide(request, moderator, paper, hidden)
    return _back(request, paper)


@router.post("/moderation/users/{username}/suspend", summary="Suspend or reinstate a user (moderators)")
def suspend_form(request: Request, username: Annotated[str, Path(max_length=40)], csrf: Csrf = None,
                 suspended: Annotated[bool, Form()] = True) -> Response:
    moderator = security.require_moderator(request)
    security.check_csrf(request, csrf)
    result = _suspend(request, moderator, username, suspended)
    if wants_json(request):
        return JsonResponse(result)
    return render(request, "accounts/message.html", {
        "title": "Done", "heading": "Done",
        "message": f"{result['username']} is now {result['status']}."})


class HideIn(BaseModel):
    hidden: bool = True


class SuspendIn(BaseModel):
    suspended: bool = True


@router.post("/api/v1/moderation/papers/{paper_id:path}/hide", summary="Hide or show a paper",
             tags=["community-api"])
def hide_api(request: Request, paper_id: PaperId, body: HideIn) -> Response:
    user = security.api_writer(request)
    if not user.is_moderator:
        raise HTTPException(status_code=403, detail="moderators only")
    return JsonResponse(_hide(request, user, find_paper(request, paper_id), body.hidden))


@router.post("/api/v1/moderation/users/{username}/suspend", summary="Suspend or reinstate a user",
             tags=["community-api"])
def suspend_api(request: Request, username: Annotated[str, Path(max_length=40)], body: SuspendIn) -> Response:
    user = security.api_writer(request)
    if not user.is_moderator:
        raise HTTPException(status_code=403, detail="moderators only")
    return JsonResponse(_suspend(request, user, username, body.suspended))

