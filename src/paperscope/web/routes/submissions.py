"""Submitting a paper to today's feed (form and JSON API).

A paper already in the store is listed at once. One the store lacks is fetched from arXiv by the
app's `SubmissionQueue` (one worker, one polite client, off the request threads); the request waits
for it on the event loop for `SUBMISSION_WAIT` seconds at most, then answers 202 "queued" and the
paper appears once fetched (`GET /api/v1/submissions/{id}` says how it went). Submissions are
limited per account per hour, and to a few waiting for arXiv at a time; a full queue answers 503.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Form, HTTPException, Path, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from paperscope.feed.trending import SUBMISSION_WEIGHT, add_event
from paperscope.model import ARXIV_REFERENCE_PATTERN, Paper, Skipped, parse_arxiv_id
from paperscope.settings import Settings
from paperscope.sources.arxiv_api import ArxivQuery
from paperscope.sources.http import PoliteClient, SourceError
from paperscope.store import get_paper, upsert_papers
from paperscope.store import votes as vote_store
from paperscope.store.users import User
from paperscope.web import security
from paperscope.web.app_state import AppState, app_state, state
from paperscope.web.rendering import JsonResponse, render
from paperscope.web.routes.papers import visible_paper
from paperscope.web.serialize import paper_json
from paperscope.web.submission_queue import Job, Outcome, QueueFull, SubmissionQueue, TooManyPending

log = logging.getLogger("paperscope.community")


router = APIRouter(tags=["community"])

SUBMISSION_WAIT = 5.0  # seconds a request waits for arXiv before answering 202 "queued"
PER_HOUR = 30  # submissions per account per hour
Csrf = Annotated[str | None, Form(max_length=400)]


def _list(engine: Any, user_id: int, username: str, paper: Paper, at: Any,
          first_listing: bool = False) -> Paper:
    """Record a submission of a stored paper, credited to the user (409 if submitted that day already).
    A paper already listed keeps its first listing date; one fetched for this submission
    (`first_listing`) is listed on the submission day."""
    try:
        vote_store.submit(engine, user_id, paper.rowid or 0, username, at.astimezone(UTC).date(), at,
                          add_event, SUBMISSION_WEIGHT, first_listing=first_listing)
    except vote_store.AlreadyListed as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from None
    log.info("paper %s submitted by %s", paper.paper_id, username)
    return get_paper(engine, paper.paper_id) or paper


def _fetch_and_list(st: AppState, jobs: list[Job], client: PoliteClient) -> list[Outcome]:
    """The queue worker's handler: one arXiv request for the batch, then store and list each paper."""
    try:
        records = list(ArxivQuery(client, st.settings.arxiv_api_url).by_ids([j.arxiv_id for j in jobs]))
    except SourceError as exc:
        # The low-level reason ("[Errno -2] Name or service not known") goes to the log, not the page.
        log.warning("arXiv lookup failed: %s", exc)
        return [Outcome(502, "arXiv could not be reached just now (is this server offline?), so the paper "
                             "could not be fetched. Try again in a few minutes.") for _ in jobs]
    wanted = {j.arxiv_id for j in jobs}  # only what was asked for, whatever else the answer holds
    found = {r.arxiv_id: r for r in records if isinstance(r, Paper) and r.arxiv_id in wanted}
    if found:
        upsert_papers(st.engine, list(found.values()))
    outcomes = []
    for job in jobs:
        paper = get_paper(st.engine, job.arxiv_id) if job.arxiv_id in found else None
        if paper is None:
            reasons = "; ".join(r.reason for r in records
                                if isinstance(r, Skipped) and job.arxiv_id in r.where)
            outcomes.append(Outcome(404, f"arXiv has no paper {job.arxiv_id}: {reasons or 'not found'}"))
            continue
        try:
            listed = _list(st.engine, job.user_id, job.username, paper, job.at, first_listing=True)
        except HTTPException as exc:
            outcomes.append(Outcome(exc.status_code, str(exc.detail)))
            continue
        outcomes.append(Outcome(201, "listed", listed))
    if any(o.status == 201 for o in outcomes):
        st.response_cache.clear()
    return outcomes


def submission_queue(app: FastAPI, settings: Settings) -> SubmissionQueue:
    """The app's submission queue, with its one polite arXiv client (the worker reads the app's state
    when a batch arrives)."""

    def client() -> PoliteClient:
        return PoliteClient(interval=settings.request_interval, user_agent=settings.user_agent, timeout=20.0,
                            max_retries=1)

    return SubmissionQueue(lambda jobs, c: _fetch_and_list(app_state(app), jobs, c), client)


def _prepare(request: Request, user: User, reference: str) -> tuple[str, Paper | None]:
    """The arXiv id (400 when it is not one), after the per-account limit; the stored paper if any."""
    try:
        arxiv_id = parse_arxiv_id(reference)[0]
    except ValueError as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from None
    refusal = security.hourly_refusal(request, "submit-user", subject=f"user:{user.id}", limit=PER_HOUR,
                                      reason="too many submissions from your account; try again later")
    if refusal is not None:
        raise security.too_many(refusal)
    known = get_paper(state(request).engine, arxiv_id)
    return arxiv_id, visible_paper(request, known, arxiv_id) if known else None


async def submit(request: Request, user: User, reference: str) -> Outcome:
    """List the paper now if it is stored, else queue its fetch and wait a little for it."""
    arxiv_id, known = await run_in_threadpool(_prepare, request, user, reference)
    at = security.now(request)
    if known is not None:
        engine = state(request).engine
        paper = await run_in_threadpool(_list, engine, user.id, user.username, known, at)
        state(request).response_cache.clear()
        return Outcome(201, "listed", paper)
    try:
        future = state(request).submission_queue.submit(user.id, user.username, arxiv_id, at)
    except TooManyPending:
        raise HTTPException(status_code=429, detail="you have submissions waiting for arXiv already; "
                            "try again once they are listed", headers={"Retry-After": "30"}) from None
    except QueueFull:
        raise HTTPException(status_code=503, detail="too many submissions are waiting for arXiv; "
                            "try again in a minute", headers={"Retry-After": "60"}) from None
    try:
        return await asyncio.wait_for(asyncio.shield(future), timeout=state(request).submission_wait)
    except TimeoutError:
        return Outcome(202, f"queued: {arxiv_id} is being fetched from arXiv and will be listed then")


def _queued_json(arxiv_id: str, outcome: Outcome) -> dict[str, Any]:
    return {"paper": arxiv_id, "status": "queued", "detail": outcome.detail,
            "status_url": f"/api/v1/submissions/{arxiv_id}"}


@router.get("/submit", summary="Submit a paper (form)")
def submit_form(request: Request) -> Response:
    if security.viewer(request) is None:
        return RedirectResponse("/signin?next=/submit", status_code=303)
    return render(request, "accounts/submit.html",
                  {"title": "Submit a paper", "csrf": security.csrf_token(request),
                   "value": request.query_params.get("paper", "")[:300]})


def _form_user(request: Request, csrf: str | None) -> User:
    user = security.require_user(request)
    security.check_csrf(request, csrf)
    return user


@router.post("/submit", summary="Submit a paper")
async def submit_post(request: Request, paper: Annotated[str, Form(max_length=300)],
                      csrf: Csrf = None) -> Response:
    user = await run_in_threadpool(_form_user, request, csrf)
    try:
        outcome = await submit(request, user, paper)
        if outcome.status >= 300:
            raise HTTPException(status_code=outcome.status, detail=outcome.detail)
    except HTTPException as exc:
        if exc.status_code in (400, 404, 409, 429, 502, 503):
            return await run_in_threadpool(
                render, request, "accounts/submit.html",
                {"title": "Submit a paper", "error": exc.detail, "csrf": security.csrf_token(request),
                 "value": paper}, exc.status_code)
        raise
    if outcome.paper is None:
        return await run_in_threadpool(render, request, "accounts/message.html", {
            "title": "Submitted", "heading": "Fetching it from arXiv",
            "message": f"{outcome.detail.removeprefix('queued: ')}. It appears on today's feed once "
                       "arXiv answers."}, 202)
    return RedirectResponse(f"/papers/{outcome.paper.paper_id}", status_code=303)


class SubmissionIn(BaseModel):
    paper: str = Field(min_length=1, max_length=300, pattern=ARXIV_REFERENCE_PATTERN,
                       description="arXiv id (2405.19504, hep-th/9901001, arxiv:…) or abs/pdf URL")


@router.post("/api/v1/submissions", summary="Submit a paper to today's feed", tags=["community-api"],
             status_code=201, responses={
                 202: {"description": "Queued: the paper is being fetched from arXiv (see `status_url`)"},
                 502: {"description": "arXiv could not be reached"},
                 503: {"description": "Too many submissions wait for arXiv; try again (Retry-After)"}})
async def submit_api(request: Request, body: SubmissionIn) -> Response:
    """Lists the paper on today's feed credited to you (once per day): 201 with the paper. A paper new
    here is fetched from arXiv first; if that takes more than a few seconds the answer is 202 with
    `status_url`, and the paper is listed once fetched. 429 beyond the per-account limits, 503 while
    the fetch queue is full."""
    user = await run_in_threadpool(security.api_writer, request)
    outcome = await submit(request, user, body.paper)
    if outcome.status == 202:
        return JsonResponse(_queued_json(parse_arxiv_id(body.paper)[0], outcome), status_code=202)
    if outcome.paper is None:
        raise HTTPException(status_code=outcome.status, detail=outcome.detail)
    return JsonResponse(paper_json(outcome.paper), status_code=201)


@router.get("/api/v1/submissions/{paper_id:path}", summary="How your submission of a paper went",
            tags=["community-api"])
def submission_status(request: Request, paper_id: Annotated[str, Path(max_length=200)]) -> Response:
    """`queued` while arXiv is asked, `listed` (with the paper), or the error it ended with."""
    user = security.require_user(request)
    try:
        arxiv_id = parse_arxiv_id(paper_id)[0]
    except ValueError as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from None
    outcome = state(request).submission_queue.outcome(user.id, arxiv_id)
    if outcome is None:
        raise HTTPException(status_code=404, detail=f"no recent submission of {arxiv_id} by you")
    if outcome.status == 202:
        return JsonResponse(_queued_json(arxiv_id, outcome))
    return JsonResponse({"paper": arxiv_id, "status": "listed" if outcome.status == 201 else "failed",
                         "error_status": None if outcome.status == 201 else outcome.status,
                         "detail": outcome.detail})
