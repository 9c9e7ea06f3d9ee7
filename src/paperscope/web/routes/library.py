"""Library (saved papers with tags), 👍/👎 feedback, BibTeX import and the "For you" feed — pages + JSON API.

Forms post with a CSRF token and redirect back (to `next`, a local path, else the paper page); the JSON
API lives under `/api/v1/` and takes a bearer token (or the session cookie plus `X-CSRF-Token`).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, FastAPI, File, Form, HTTPException, Path, Query, Request, UploadFile
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field, field_validator
from starlette.concurrency import run_in_threadpool

from paperscope.feed.foryou import ForYou, ForYouResult
from paperscope.model import Paper
from paperscope.search.dpp import DEFAULT_THETA
from paperscope.store import get_papers_by_rowid
from paperscope.store import library as library_store
from paperscope.store.listings import latest_listing_day
from paperscope.store.papers import hidden_among
from paperscope.store.users import User
from paperscope.web import security
from paperscope.web.params import Format, Limit, Page
from paperscope.web.rendering import JsonResponse, is_htmx, local_path, page_or_json, render, state
from paperscope.web.routes.papers import find_paper
from paperscope.web.serialize import paper_json

router = APIRouter(tags=["library"])

PaperId = Annotated[str, Path(max_length=200)]
Csrf = Annotated[str | None, Form(max_length=400)]
TagsForm = Annotated[str, Form(max_length=1000)]
NextForm = Annotated[str | None, Form(max_length=500)]
FEEDBACK = {"up": 1, "down": -1, "clear": 0}
MAX_UPLOAD = 5_000_000


def _split_tags(text: str) -> list[str]:
    return [t for t in text.replace(";", ",").split(",") if t.strip()]


def _changed(request: Request) -> None:
    request.app.state.response_cache.clear()


def _back(request: Request, paper: Paper, next_path: str | None) -> Response:
    """htmx posts get the paper's controls, fresh, to swap in place; plain forms go back to the page
    the person was on (`next`, the full address with its query; only local paths: an open redirect
    would let other sites bounce visitors through us)."""
    if is_htmx(request):
        return render(request, "library/_actions.html", {"p": {"id": paper.paper_id}})
    return RedirectResponse(local_path(next_path, f"/papers/{paper.paper_id}"), status_code=303)


def _rowid(paper: Paper) -> int:
    assert paper.rowid is not None
    return paper.rowid


# -- forms ---------------------------------------------------------------------------------------------

@router.post("/papers/{paper_id:path}/save", summary="Save to your library (form)")
def save_form(request: Request, paper_id: PaperId, tags: TagsForm = "", csrf: Csrf = None,
              next: NextForm = None) -> Response:
    user = security.require_user(request)
    security.check_csrf(request, csrf)
    paper = find_paper(request, paper_id)
    library_store.save_paper(state(request).engine, user.id, _rowid(paper), _split_tags(tags),
                             now=security.now(request))
    return _back(request, paper, next)


@router.post("/papers/{paper_id:path}/unsave", summary="Remove from your library (form)")
def unsave_form(request: Request, paper_id: PaperId, csrf: Csrf = None, next: NextForm = None) -> Response:
    user = security.require_user(request)
    security.check_csrf(request, csrf)
    paper = find_paper(request, paper_id)
    library_store.remove_paper(state(request).engine, user.id, _rowid(paper))
    return _back(request, paper, next)


@router.post("/papers/{paper_id:path}/feedback", summary="👍 / 👎 a paper (form)")
def feedback_form(request: Request, paper_id: PaperId,
                  value: Annotated[Literal["up", "down", "clear"], Form()], csrf: Csrf = None,
                  next: NextForm = None) -> Response:
    user = security.require_user(request)
    security.check_csrf(request, csrf)
    paper = find_paper(request, paper_id)
    library_store.set_feedback(state(request).engine, user.id, _rowid(paper), FEEDBACK[value],
                               now=security.now(request))
    return _back(request, paper, next)


@router.post("/library/import", summary="Import a BibTeX file into your library (form)")
async def import_form(request: Request, file: Annotated[UploadFile, File()], tags: TagsForm = "",
                      csrf: Csrf = None) -> Response:
    user = security.require_user(request)
    security.check_csrf(request, csrf)
    raw = await file.read(MAX_UPLOAD + 1)
    if len(raw) > MAX_UPLOAD:
        raise HTTPException(status_code=413, detail="BibTeX file larger than 5 MB")
    # An async route runs on the event loop: a long import there would stall every request this
    # worker serves (cached pages included), so it runs on the thread pool.
    report = await run_in_threadpool(library_store.import_bibtex, state(request).engine, user.id,
                                     raw.decode("utf-8", "replace"), _split_tags(tags),
                                     now=security.now(request))
    # Post/redirect/get: the result shows on /library (a reload does not import again), carried in
    # the address; the list of entries not found is cut at MAX_MISSING_SHOWN.
    summary: list[tuple[str, str | int]] = [
        ("imported", report.entries), ("added", report.added), ("unreadable", report.failed_blocks),
        *((f"by_{how}", n) for how, n in report.matched.items()),
        ("missing_count", len(report.unmatched)),
        *(("missing", key[:120]) for key in report.unmatched[:MAX_MISSING_SHOWN])]
    return RedirectResponse("/library?" + urlencode(summary), status_code=303)


MAX_MISSING_SHOWN = 20


def _import_summary(request: Request) -> dict[str, Any] | None:
    """The import report carried in the address after an import (None when there is none)."""
    query = request.query_params
    if "imported" not in query:
        return None

    def number(name: str) -> int:
        value = query.get(name, "0")
        return int(value) if value.isdigit() else 0

    matched = {k[3:]: number(k) for k in query if k.startswith("by_") and k[3:].isalpha()}
    return {"entries": number("imported"), "added": number("added"), "failed_blocks": number("unreadable"),
            "matched": matched, "unmatched": query.getlist("missing")[:MAX_MISSING_SHOWN],
            "unmatched_count": number("missing_count")}


def _visible(request: Request, user: User, found: list[Paper]) -> dict[int | None, Paper]:
    """The papers by row id, less those moderators hid (unless the viewer is one)."""
    hidden = set() if user.is_moderator else hidden_among(state(request).engine,
                                                         [p.rowid for p in found if p.rowid is not None])
    return {p.rowid: p for p in found if p.rowid not in hidden}


# -- pages ---------------------------------------------------------------------------------------------

def _library_data(request: Request, user: User, tag: str | None) -> dict[str, Any]:
    engine = state(request).engine
    items = library_store.list_library(engine, user.id, tag=tag)
    papers = _visible(request, user, get_papers_by_rowid(engine, [i.rowid for i in items]))
    votes = library_store.feedback_of(engine, user.id)
    return {"tag": tag, "tags": library_store.library_tags(engine, user.id),
            "version": library_store.library_version(engine, user.id),
            "papers": [{**paper_json(papers[i.rowid], with_abstract=False), "tags": list(i.tags),
                        "source": i.source, "added_at": i.added_at, "saved": True,
                        "feedback": votes.get(i.rowid, 0)}
                       for i in items if i.rowid in papers]}


def _library_response(request: Request, user: User, tag: str | None,
                      import_report: dict[str, Any] | None = None) -> Response:
    data = _library_data(request, user, tag)
    data["import_report"] = import_report
    return page_or_json(request, "library/library.html", data, {"title": "Your library"})


@router.get("/library", summary="Your library")
def library_page(request: Request, tag: Annotated[str | None, Query(max_length=40)] = None,
                 format: Format = None) -> Response:
    return _library_response(request, security.require_user(request), tag, _import_summary(request))


def foryou_service(request: Request) -> ForYou:
    service: ForYou | None = getattr(request.app.state, "foryou", None)
    if service is None:
        raise HTTPException(status_code=503, detail="the personal feed needs the search stage")
    return service


def _foryou_data(request: Request, user: User, page: int, limit: int, days: int, diverse: bool,
                 theta: float) -> dict[str, Any]:
    result: ForYouResult = foryou_service(request).feed(user.id, k=limit, offset=(page - 1) * limit,
                                                        days=days, diverse=diverse, theta=theta)
    papers = _visible(request, user, get_papers_by_rowid(state(request).engine,
                                                         [i.rowid for i in result.items]))
    newest = latest_listing_day(state(request).engine)
    return {"total": result.total, "page": page, "limit": limit, "days": days, "diverse": diverse,
            "window_end": newest.isoformat() if newest else None,
            "model_version": result.model_version, "retrained": result.retrained, "notes": result.notes,
            "papers": [{**paper_json(papers[i.rowid], with_abstract=True), "score": i.score,
                        "saved": False, "feedback": 0,
                        "reasons": [asdict(r) for r in i.reasons]}
                       for i in result.items if i.rowid in papers]}


Days = Annotated[int, Query(ge=1, le=90, description="How far back (days before the newest listing).")]
Diverse = Annotated[bool, Query(description="Re-rank for diversity (DPP).")]
Theta = Annotated[float, Query(ge=0.0, le=1.0, description="Relevance/diversity trade-off θ.")]


@router.get("/foryou", summary="For you: recent papers ranked by your personal model")
def foryou_page(request: Request, page: Page = 1, limit: Limit = 20, days: Days = 7,
                diverse: Diverse = False, theta: Theta = DEFAULT_THETA, format: Format = None) -> Response:
    user = security.require_user(request)
    data = _foryou_data(request, user, page, limit, days, diverse, theta)
    return page_or_json(request, "library/foryou.html", data, {"title": "For you"})


# -- JSON API ------------------------------------------------------------------------------------------

# Text without control characters (the validator below also names lone surrogates, which JSON can
# carry but UTF-8 cannot).
TAG_PATTERN = r"^[^\x00-\x1f\x7f-\x9f]*$"


class SaveBody(BaseModel):
    tags: list[Annotated[str, Field(max_length=200, pattern=TAG_PATTERN)]] = Field(
        default_factory=list, max_length=library_store.MAX_TAGS)
    replace_tags: bool = False

    @field_validator("tags")
    @classmethod
    def _storable(cls, tags: list[str]) -> list[str]:
        # A lone surrogate ("\ud800") is valid JSON but not text: refused here (422) rather than
        # stored (it made every later read of the library fail).
        for tag in tags:
            problem = library_store.tag_problem(tag)
            if problem:
                raise ValueError(problem)
        return tags


class FeedbackBody(BaseModel):
    value: Literal[-1, 0, 1]


@router.get("/api/v1/library", summary="Your library", tags=["library-api"])
def library_api(request: Request, tag: Annotated[str | None, Query(max_length=40)] = None) -> Response:
    return JsonResponse(_library_data(request, security.require_user(request), tag))


@router.put("/api/v1/library/{paper_id:path}", summary="Save a paper (tags merged)", tags=["library-api"])
def save_api(request: Request, paper_id: PaperId, body: SaveBody) -> Response:
    user = security.api_writer(request)
    paper = find_paper(request, paper_id)
    engine = state(request).engine
    added = library_store.save_paper(engine, user.id, _rowid(paper), body.tags, now=security.now(request),
                                     merge_tags=not body.replace_tags)
    item = next(i for i in library_store.list_library(engine, user.id) if i.rowid == paper.rowid)
    return JsonResponse({"id": paper.paper_id, "added": added, "tags": list(item.tags)})


@router.delete("/api/v1/library/{paper_id:path}", summary="Remove a paper", tags=["library-api"])
def unsave_api(request: Request, paper_id: PaperId) -> Response:
    user = security.api_writer(request)
    paper = find_paper(request, paper_id)
    removed = library_store.remove_paper(state(request).engine, user.id, _rowid(paper))
    return JsonResponse({"id": paper.paper_id, "removed": removed})


@router.post("/api/v1/papers/{paper_id:path}/feedback", summary="👍 (1) / 👎 (-1) / clear (0)",
             tags=["library-api"])
def feedback_api(request: Request, paper_id: PaperId, body: FeedbackBody) -> Response:
    user = security.api_writer(request)
    paper = find_paper(request, paper_id)
    library_store.set_feedback(state(request).engine, user.id, _rowid(paper), body.value,
                               now=security.now(request))
    return JsonResponse({"id": paper.paper_id, "feedback": body.value})


@router.post("/api/v1/library/import", summary="Import BibTeX (the request body)", tags=["library-api"])
async def import_api(request: Request, tags: Annotated[str, Query(max_length=1000)] = "") -> Response:
    user = security.api_writer(request)
    raw = await request.body()
    if len(raw) > MAX_UPLOAD:
        raise HTTPException(status_code=413, detail="BibTeX file larger than 5 MB")
    report = await run_in_threadpool(library_store.import_bibtex, state(request).engine, user.id,
                                     raw.decode("utf-8", "replace"), _split_tags(tags),
                                     now=security.now(request))
    return JsonResponse(asdict(report))


@router.get("/api/v1/foryou", summary="For you (JSON)", tags=["library-api"])
def foryou_api(request: Request, page: Page = 1, limit: Limit = 20, days: Days = 7, diverse: Diverse = False,
               theta: Theta = DEFAULT_THETA) -> Response:
    return JsonResponse(_foryou_data(request, security.require_user(request), page, limit, days, diverse,
                                     theta))


def library_marks(request: Request, paper_id: str) -> dict[str, Any]:
    """For templates: whether the signed-in viewer saved a paper and their 👍/👎 (0 when anonymous)."""
    user = security.viewer(request)
    if user is None:
        return {"saved": False, "feedback": 0}
    rowid = library_store.rowids_by_arxiv_id(state(request).engine, [paper_id]).get(paper_id)
    if rowid is None:
        return {"saved": False, "feedback": 0}
    saved, feedback = library_store.marks_for(state(request).engine, user.id, [rowid])[rowid]
    return {"saved": saved, "feedback": feedback}


def install_library(app: FastAPI) -> None:
    """Add the routes (ahead of the `/papers/{id}` page catch-all), the ForYou service, and the
    save/👍/👎 controls every paper card shows to signed-in visitors."""
    env = app.state.templates.env
    env.globals["library_marks"] = library_marks
    env.globals["library_actions"] = True
    search_engine = getattr(app.state, "search_engine", None)
    app.state.foryou = ForYou(search_engine.retriever) if search_engine is not None else None
    before = len(app.router.routes)
    app.include_router(router)
    added = app.router.routes[before:]
    del app.router.routes[before:]
    app.router.routes[:0] = added
