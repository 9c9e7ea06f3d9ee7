"""Alerts an account owns: "Alert me" on author, search and category pages, the list on /account/alerts
(+ JSON twin), the JSON API under /api/v1/alerts, and a group's webhook (its owners set it).

A webhook URL must be http(s) and reach a public host that is not this server (mail/webhooks.py); a
refused URL is a 400 and stores nothing.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Path, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field

from paperscope.mail.webhooks import WebhookRefused, check_webhook_url
from paperscope.search.authors import MAX_NAME
from paperscope.store import alerts as alert_store
from paperscope.store import groups as group_store
from paperscope.store.alerts import Alert, AlertProblem
from paperscope.store.users import User
from paperscope.web import security
from paperscope.web.app_state import state
from paperscope.web.params import CATEGORY_PATTERN
from paperscope.web.rendering import JsonResponse, page_or_json, wants_json

router = APIRouter(tags=["alerts"])
Csrf = Annotated[str | None, Form(max_length=400)]
AlertId = Annotated[int, Path(ge=1, le=2**31 - 1)]
MAX_QUERY = 500


class NewAlert(BaseModel):
    kind: str = Field(max_length=16)
    query: str = Field(min_length=1, max_length=MAX_QUERY)
    email: bool = True
    webhook_url: str | None = Field(default=None, max_length=2000)
    webhook_format: str | None = Field(default=None, max_length=16)
    group: str | None = Field(default=None, max_length=64)  # send to this group's webhook


def alert_json(alert: Alert) -> dict[str, Any]:
    return {"id": alert.id, "kind": alert.kind, "query": alert.query, "email": alert.email,
            "webhook_url": alert.webhook_url, "webhook_format": alert.webhook_format,
            "group_webhook": alert.group_webhook_url is not None,
            "created_at": alert.created_at.isoformat()}


def _create(request: Request, user: User, body: NewAlert) -> Alert:
    """Validate and store; AlertProblem (400/403/409) refuses with nothing stored."""
    query = body.query.strip()
    if body.kind == "author" and len(query) > MAX_NAME:
        raise AlertProblem(f"author names are at most {MAX_NAME} characters")
    if body.kind == "category" and not re.match(CATEGORY_PATTERN, query):
        raise AlertProblem(f"not an arXiv category: {query[:80]!r}")
    if not query:
        raise AlertProblem("an alert needs something to follow")
    url: str | None = None
    if body.webhook_url and body.webhook_url.strip():
        try:
            url = check_webhook_url(body.webhook_url, state(request).settings)
        except WebhookRefused as exc:
            raise AlertProblem(str(exc)) from None
    group_id: int | None = None
    engine = state(request).engine
    if body.group:
        group = group_store.group_for(engine, body.group, user.id)
        if group is None:
            raise AlertProblem(f"you are not in a group {body.group!r}", 403)
        group_id = group.id
    if not body.email and url is None and group_id is None:
        raise AlertProblem("choose where the alert goes: email, a webhook, or a group's webhook")
    fmt = (body.webhook_format or "json") if url else None
    return alert_store.create_alert(engine, user.id, kind=body.kind, query=query, email=body.email,
                                    webhook_url=url, webhook_format=fmt, group_id=group_id,
                                    now=security.now(request))


def _refusal(request: Request, exc: AlertProblem) -> Response:
    if wants_json(request) or request.url.path.startswith("/api/"):
        return JsonResponse({"error": str(exc), "status": exc.status}, status_code=exc.status)
    raise HTTPException(status_code=exc.status, detail=str(exc))


@router.post("/alerts", summary="Alert me (form)")
def create_alert_form(request: Request, kind: Annotated[str, Form(max_length=16)],
                      query: Annotated[str, Form(max_length=MAX_QUERY)],
                      email: Annotated[bool, Form()] = False,
                      webhook_url: Annotated[str, Form(max_length=2000)] = "",
                      webhook_format: Annotated[str, Form(max_length=16)] = "json",
                      group: Annotated[str, Form(max_length=64)] = "", csrf: Csrf = None) -> Response:
    user = security.require_user(request)
    security.check_csrf(request, csrf)
    body = NewAlert(kind=kind, query=query, email=email, webhook_url=webhook_url or None,
                    webhook_format=webhook_format, group=group or None)
    try:
        _create(request, user, body)
    except AlertProblem as exc:
        return _refusal(request, exc)
    return RedirectResponse("/account/alerts", status_code=303)


@router.get("/account/alerts", summary="Your alerts")
def alerts_page(request: Request) -> Response:
    user = security.viewer(request)
    if user is None:
        return RedirectResponse("/signin?next=/account/alerts", status_code=303)
    engine = state(request).engine
    mine = alert_store.alerts_of(engine, user.id)
    data = {"alerts": [alert_json(a) for a in mine]}
    return page_or_json(request, "alerts/list.html", data, {
        "title": "Your alerts", "csrf": security.csrf_token(request),
        "groups": [g.slug for g in group_store.groups_of(engine, user.id)], "formats": alert_store.FORMATS})


@router.post("/account/alerts/{alert_id}/delete", summary="Stop an alert (form)")
def delete_alert_form(request: Request, alert_id: AlertId, csrf: Csrf = None) -> Response:
    user = security.require_user(request)
    security.check_csrf(request, csrf)
    if not alert_store.delete_alert(state(request).engine, user.id, alert_id):
        raise HTTPException(status_code=404, detail="no such alert")
    return RedirectResponse("/account/alerts", status_code=303)


@router.get("/api/v1/alerts", summary="Your alerts (JSON)", tags=["community-api"])
def list_alerts_api(request: Request) -> Response:
    user = security.require_user(request)
    mine = alert_store.alerts_of(state(request).engine, user.id)
    return JsonResponse({"alerts": [alert_json(a) for a in mine]})


@router.post("/api/v1/alerts", summary="Create an alert", tags=["community-api"], status_code=201)
def create_alert_api(request: Request, body: NewAlert) -> Response:
    user = security.api_writer(request)
    try:
        alert = _create(request, user, body)
    except AlertProblem as exc:
        return _refusal(request, exc)
    return JsonResponse(alert_json(alert), status_code=201)


@router.delete("/api/v1/alerts/{alert_id}", summary="Stop an alert", tags=["community-api"])
def delete_alert_api(request: Request, alert_id: AlertId) -> Response:
    user = security.api_writer(request)
    if not alert_store.delete_alert(state(request).engine, user.id, alert_id):
        raise HTTPException(status_code=404, detail="no such alert")
    return JsonResponse({"deleted": alert_id})


@router.post("/groups/{slug}/webhook", summary="Set a group's alert webhook (form, owners)")
def group_webhook_form(request: Request, slug: Annotated[str, Path(max_length=64)],
                       webhook_url: Annotated[str, Form(max_length=2000)] = "",
                       webhook_format: Annotated[str, Form(max_length=16)] = "json",
                       csrf: Csrf = None) -> Response:
    user = security.require_user(request)
    security.check_csrf(request, csrf)
    engine = state(request).engine
    group = group_store.group_for(engine, slug, user.id)
    if group is None:
        raise HTTPException(status_code=404, detail=f"no group {slug!r}")
    if group.role != "owner":
        raise HTTPException(status_code=403, detail="only the group's owners may set its webhook")
    url: str | None = None
    try:
        if webhook_url.strip():
            url = check_webhook_url(webhook_url, state(request).settings)
        alert_store.set_group_webhook(engine, group.id, url, webhook_format if url else None)
    except (WebhookRefused, AlertProblem) as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from None
    return RedirectResponse(f"/groups/{slug}", status_code=303)
