"""The account's digest subscription, managed on /account/digest (+ JSON twin): frequency, trending,
categories and the personal "For you" section (from the account's library and 👍/👎). The account's
address is already confirmed, so the subscription is active at once, linked to the account; saved
searches made on /subscribe are kept."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from paperscope.mail.subscribe import InvalidSubscription, SubscriptionRequest, validated_choice
from paperscope.store.subscriptions import DigestChoice, confirm, find_subscription, subscribe, unsubscribe
from paperscope.web import security
from paperscope.web.app_state import state
from paperscope.web.rendering import JsonResponse, page_or_json, wants_json

router = APIRouter(tags=["accounts"])
Csrf = Annotated[str | None, Form(max_length=400)]


@router.get("/account/digest", summary="Your digest subscription")
def digest_page(request: Request) -> Response:
    user = security.viewer(request)
    if user is None:
        return RedirectResponse("/signin?next=/account/digest", status_code=303)
    sub = find_subscription(state(request).engine, user.email)
    data: dict[str, Any] = {"subscribed": False, "email": user.email}
    if sub is not None and sub.status in ("active", "pending"):
        data.update(subscribed=True, status=sub.status, frequency=sub.frequency, trending=sub.choice.trending,
                    categories=list(sub.choice.categories), for_you=sub.choice.for_you,
                    searches=[s.query for s in sub.choice.searches], per_section=sub.per_section)
    return page_or_json(request, "accounts/digest.html", data,
                        {"title": "Your digest", "csrf": security.csrf_token(request)})


@router.post("/account/digest", summary="Subscribe or change your digest (form)")
def save_digest(request: Request, frequency: Annotated[str, Form(max_length=16)] = "weekly",
                trending: Annotated[bool, Form()] = False, for_you: Annotated[bool, Form()] = False,
                categories: Annotated[str, Form(max_length=400)] = "",
                per_section: Annotated[int, Form(ge=1, le=20)] = 5, csrf: Csrf = None) -> Response:
    user = security.require_user(request)
    security.check_csrf(request, csrf)
    engine = state(request).engine
    current = find_subscription(engine, user.email)
    searches = current.choice.searches if current is not None and current.status != "unsubscribed" else ()
    cats = tuple(c for c in re.split(r"[\s,]+", categories) if c)
    try:
        if for_you and not (trending or cats or searches):
            if frequency not in ("daily", "weekly"):
                raise InvalidSubscription(f"frequency must be daily or weekly, not {frequency!r}")
            choice = DigestChoice(for_you=True)
        else:
            choice = replace(validated_choice(SubscriptionRequest(
                email=user.email, frequency=frequency, trending=trending, categories=cats, searches=searches,
                per_section=per_section)), for_you=for_you)
    except InvalidSubscription as exc:
        if wants_json(request):
            return JsonResponse({"error": str(exc), "status": 400}, status_code=400)
        raise HTTPException(status_code=400, detail=str(exc)) from None
    outcome = subscribe(engine, user.email, frequency, choice, per_section, user_id=user.id)  # type: ignore[arg-type]
    confirm(engine, outcome.subscription.id)  # the account's address is confirmed already
    return RedirectResponse("/account/digest", status_code=303)


@router.post("/account/digest/stop", summary="Stop your digest (form)")
def stop_digest(request: Request, csrf: Csrf = None) -> Response:
    user = security.require_user(request)
    security.check_csrf(request, csrf)
    sub = find_subscription(state(request).engine, user.email)
    if sub is not None:
        unsubscribe(state(request).engine, sub.id)
    return RedirectResponse("/account/digest", status_code=303)
