"""Email digest subscriptions: the form, the JSON API, the signed confirm and one-click unsubscribe links
(the digest scheduler `paperscope serve` may run is `mail/scheduler.py`).

Forms carry a signed, expiring token (stateless CSRF protection). The confirm and unsubscribe links
carry their own signed token, so they work without signing in: GET shows a page with one button, POST
acts (RFC 8058 one-click clients POST `List-Unsubscribe=One-Click` straight to the same URL).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, BackgroundTasks, Form, Path, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from paperscope.mail.runner import deliver_pending
from paperscope.mail.subscribe import (
    InvalidSubscription,
    SubscriptionRequest,
    confirm_from_token,
    normalize_address,
    request_subscription,
    subscriber_from_unsubscribe_token,
    unsubscribe_from_token,
    validated_choice,
)
from paperscope.mail.tokens import BadToken, MailTokens
from paperscope.store.listings import category_counts
from paperscope.store.subscriptions import SavedSearch, Subscription
from paperscope.web import security
from paperscope.web.app_state import state
from paperscope.web.params import CATEGORY_PATTERN
from paperscope.web.rendering import JsonResponse, render, wants_json

Token = Annotated[str, Path(max_length=400)]


router = APIRouter(tags=["subscriptions"])


# What the document promises is what `normalize_address` / `validated_choice` accept: a plain ASCII
# address, an arXiv category, a query with a word in it; and at least one section (`anyOf` below).
EMAIL_PATTERN = (r"^[A-Za-z0-9_%+-]+(\.[A-Za-z0-9_%+-]+)*@([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"
                 r"[A-Za-z]{2,63}$")
CategoryIn = Annotated[str, Field(pattern=CATEGORY_PATTERN, max_length=64)]


class SavedSearchIn(BaseModel):
    query: str = Field(min_length=1, max_length=200, pattern=r"\w")
    categories: list[CategoryIn] = Field(default_factory=list, max_length=20)
    author: str | None = Field(default=None, max_length=200)


class SubscriptionIn(BaseModel):
    """A subscription request (JSON API): at least one of trending, a category or a saved search."""

    model_config = ConfigDict(json_schema_extra={"anyOf": [
        {"properties": {"trending": {"const": True}}, "required": ["trending"]},
        {"properties": {"categories": {"minItems": 1}}, "required": ["categories"]},
        {"properties": {"searches": {"minItems": 1}}, "required": ["searches"]}]})

    email: str = Field(max_length=254, pattern=EMAIL_PATTERN)
    frequency: Literal["daily", "weekly"] = Field(default="weekly", description="daily (weekdays) or weekly")
    trending: bool = False
    categories: list[CategoryIn] = Field(default_factory=list, max_length=20)
    searches: list[SavedSearchIn] = Field(default_factory=list, max_length=10)
    per_section: int = Field(default=5, ge=1, le=20)


def _public(sub: Subscription) -> dict[str, Any]:
    return {"email": sub.email, "status": sub.status, "frequency": sub.frequency,
            "per_section": sub.per_section, **sub.choice.to_json()}


def _send_confirmation_soon(background: BackgroundTasks, request: Request) -> None:
    st = state(request)
    background.add_task(deliver_pending, st.engine, st.settings, kind="confirm")


PENDING_MESSAGE = ("If this address can receive mail, a link to confirm is on its way (or was sent "
                   "within the hour). Nothing changes until it is opened.")
def _check_categories(request: Request, categories: tuple[str, ...]) -> None:
    """InvalidSubscription for a category this library has no paper in (a typo such as cs.FAKE would
    otherwise give a digest that never has anything in it)."""
    if not categories:
        return
    known = {c for c, _ in category_counts(state(request).engine)}
    unknown = [c for c in categories if c not in known]
    if known and unknown:
        raise InvalidSubscription(f"no papers here are in {', '.join(unknown)}: check the code against the "
                                  "Categories page (e.g. cs.CL, hep-th)")


def _subscribe(request: Request, background: BackgroundTasks, req: SubscriptionRequest) -> dict[str, Any]:
    """Validate, rate-limit, record; the answer is the same for every address (new, pending, active or
    unsubscribed) and echoes only the request, so it tells nothing about who subscribes to what."""
    st = state(request)
    address = normalize_address(req.email)
    choice = validated_choice(req)
    refusal = security.subscription_refusal(request, address)
    if refusal is not None:
        raise security.too_many(refusal)
    _check_categories(request, tuple(c.strip() for c in req.categories if c.strip()))
    outcome = request_subscription(st.engine, st.settings, req)
    if outcome.change is not None:
        _send_confirmation_soon(background, request)
    return {"email": address, "status": "pending", "frequency": req.frequency, "per_section": req.per_section,
            **choice.to_json(), "message": PENDING_MESSAGE}


def _form_page(request: Request, error: str | None = None, values: dict[str, Any] | None = None,
               status_code: int = 200) -> Response:
    tokens = MailTokens(state(request).settings)
    return render(request, "subscriptions/subscribe.html",
                  {"title": "Email digest", "csrf": tokens.form_token(), "error": error,
                   "values": values or {}},
                  status_code=status_code)


@router.get("/subscribe", summary="Digest subscription form")
def subscribe_form(request: Request) -> Response:
    """The form: address, daily or weekly, trending / categories / saved searches."""
    return _form_page(request)


@router.post("/subscribe", summary="Subscribe (form)")
def subscribe_submit(
    request: Request, background: BackgroundTasks,
    email: Annotated[str, Form(max_length=320)], csrf: Annotated[str, Form(max_length=400)],
    frequency: Annotated[str, Form()] = "weekly", trending: Annotated[bool, Form()] = False,
    categories: Annotated[str, Form(max_length=2000)] = "",
    searches: Annotated[str, Form(max_length=5000)] = "",
    per_section: Annotated[int, Form(ge=1, le=20)] = 5,
) -> Response:
    """Validate the form; on success queue the confirmation mail and say so."""
    values = {"email": email, "frequency": frequency, "trending": trending, "categories": categories,
              "searches": searches, "per_section": per_section}
    try:
        MailTokens(state(request).settings).check_form_token(csrf)
        req = SubscriptionRequest(
            email=email, frequency=frequency, trending=trending,
            categories=tuple(categories.replace(",", " ").split()),
            searches=tuple(SavedSearch(line.strip()) for line in searches.splitlines() if line.strip()),
            per_section=per_section)
        result = _subscribe(request, background, req)
    except (InvalidSubscription, BadToken) as exc:
        return _form_page(request, str(exc), values, status_code=400)
    return render(request, "subscriptions/message.html", {
        "title": "Check your inbox", "heading": "Check your inbox",
        "message": f"{result['email']}: {PENDING_MESSAGE}"})


@router.post("/api/subscriptions", summary="Subscribe (JSON)", status_code=202)
def subscribe_api(request: Request, background: BackgroundTasks, body: SubscriptionIn) -> Response:
    """Ask for a subscription, or a change to one: the address is mailed a link that applies exactly
    this request (double opt-in; a change to an existing subscription waits for its link too).

    Every address gets the same answer. Limited per IP and per address per hour (429 beyond).
    JSON-only (the content type forces a CORS preflight, so other sites cannot submit it from a browser).
    Repeating a request is harmless.
    """
    req = SubscriptionRequest(
        email=body.email, frequency=body.frequency, trending=body.trending, categories=tuple(body.categories),
        searches=tuple(SavedSearch(s.query, tuple(s.categories), s.author) for s in body.searches),
        per_section=body.per_section)
    try:
        return JsonResponse(_subscribe(request, background, req), status_code=202)
    except InvalidSubscription as exc:
        return JsonResponse({"error": str(exc), "status": 400}, status_code=400)


def _link_problem(request: Request, exc: BadToken) -> Response:
    status = 410 if exc.expired else 400
    if wants_json(request):
        return JsonResponse({"error": str(exc), "status": status}, status_code=status)
    return render(request, "subscriptions/message.html",
                  {"title": "Link not valid", "heading": "This link does not work", "message": str(exc)},
                  status_code=status)


def _done(request: Request, sub: Subscription, heading: str, message: str) -> Response:
    if wants_json(request):
        return JsonResponse(_public(sub))
    return render(request, "subscriptions/message.html", {"title": heading, "heading": heading,
                                                          "message": message})


@router.get("/subscriptions/confirm/{token}", summary="Confirmation page")
def confirm_page(request: Request, token: Token) -> Response:
    """Shows a button; link scanners that prefetch the URL do not confirm anything."""
    st = state(request)
    try:
        ref = MailTokens(st.settings).read_confirm(token)
    except BadToken as exc:
        return _link_problem(request, exc)
    return render(request, "subscriptions/action.html", {
        "title": "Confirm subscription", "heading": "Confirm your digest subscription",
        "message": f"Send paperscope digests to {ref.email}?", "button": "Yes, confirm",
        "action": f"/subscriptions/confirm/{token}"})


@router.post("/subscriptions/confirm/{token}", summary="Confirm a subscription")
def confirm_submit(request: Request, token: Token) -> Response:
    """Activate the subscription (idempotent)."""
    st = state(request)
    try:
        sub = confirm_from_token(st.engine, st.settings, token)
    except BadToken as exc:
        return _link_problem(request, exc)
    return _done(request, sub, "Subscription confirmed",
                 f"{sub.email} will get the {sub.frequency} digest. Every digest has an unsubscribe link.")


@router.get("/subscriptions/unsubscribe/{token}", summary="Unsubscribe page")
def unsubscribe_page(request: Request, token: Token) -> Response:
    """Asks for confirmation with one button (no sign-in needed)."""
    st = state(request)
    try:
        sub = subscriber_from_unsubscribe_token(st.engine, st.settings, token)
    except BadToken as exc:
        return _link_problem(request, exc)
    if sub.status == "unsubscribed":
        return _done(request, sub, "Unsubscribed", f"{sub.email} gets no more digests.")
    return render(request, "subscriptions/action.html", {
        "title": "Unsubscribe", "heading": "Unsubscribe from paperscope digests",
        "message": f"Stop sending digests to {sub.email}?", "button": "Unsubscribe",
        "action": f"/subscriptions/unsubscribe/{token}"})


@router.post("/subscriptions/unsubscribe/{token}", summary="Unsubscribe (RFC 8058 one-click)")
def unsubscribe_submit(request: Request, token: Token) -> Response:
    """Stop all digests for the subscriber the signed token names. Idempotent."""
    st = state(request)
    try:
        sub = unsubscribe_from_token(st.engine, st.settings, token)
    except BadToken as exc:
        return _link_problem(request, exc)
    return _done(request, sub, "Unsubscribed", f"{sub.email} gets no more digests.")
