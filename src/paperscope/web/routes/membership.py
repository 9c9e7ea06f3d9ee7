"""Joining a lab's instance: invitations (accept, admin page), email confirmation, secret feed URLs.

PAPERSCOPE_SIGNUP decides who may create an account: `open` (anyone, at /signup), `invite` (only through
a single-use, expiring invitation link: `paperscope user invite` or /admin/invitations), or
`domains:a.edu,b.org` (/signup for those addresses only). Accounts made at /signup confirm their address
through a mailed link before they can act (vote, comment, collect, read a members-only instance); an
invitation made for one address counts as that confirmation.
"""

from __future__ import annotations

import email.utils
import logging
import secrets
from datetime import timedelta
from email.message import EmailMessage
from typing import Annotated, Any

from email_validator import EmailNotValidError, validate_email
from fastapi import APIRouter, BackgroundTasks, Form, HTTPException, Path, Request
from fastapi.responses import RedirectResponse, Response
from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer

from paperscope.mail.smtp import SendFailure, SmtpConfig, SmtpTransport
from paperscope.settings import Settings
from paperscope.store import invitations as invitation_store
from paperscope.store import users as user_store
from paperscope.store.invitations import InvitationRefused
from paperscope.store.users import User, UserExists
from paperscope.web import security
from paperscope.web.access import feed_token
from paperscope.web.app_state import state
from paperscope.web.rendering import JsonResponse, render, wants_json

log = logging.getLogger("paperscope.membership")
router = APIRouter(tags=["accounts"])

VERIFY_MAX_AGE = 7 * 86400
INVITATION_DAYS = 7
MAX_INVITATION_DAYS = 90
Token = Annotated[str, Path(max_length=400)]
Csrf = Annotated[str | None, Form(max_length=400)]


def _page(request: Request, template: str, context: dict[str, Any], status_code: int = 200) -> Response:
    response = render(request, f"accounts/{template}", {"csrf": security.csrf_token(request), **context},
                      status_code=status_code)
    return security.attach_csrf_cookie(request, response)


def _message(request: Request, heading: str, message: str, status_code: int = 200) -> Response:
    if wants_json(request):
        return JsonResponse({"message": message}, status_code=status_code)
    return _page(request, "message.html", {"title": heading, "heading": heading, "message": message},
                 status_code=status_code)


def send_account_mail(settings: Settings, recipient: str, subject: str, text: str) -> None:
    """One plain-text mail through the mail stage's SMTP transport (failures are logged, not raised)."""
    msg = EmailMessage()
    msg["From"] = settings.mail_from
    msg["To"] = recipient
    msg["Subject"] = subject
    msg["Date"] = email.utils.formatdate(localtime=False)
    msg["Message-ID"] = email.utils.make_msgid(domain="paperscope")
    msg.set_content(text)
    raw = msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))
    try:
        with SmtpTransport(SmtpConfig.from_settings(settings)) as transport:
            transport.send(recipient, raw)
    except SendFailure as exc:
        log.warning("account mail %r not sent: %s", subject, exc)


# Sign-up rules ----------------------------------------------------------------------------------------------

def signup_refusal(settings: Settings, address: str) -> str | None:
    """Why /signup may not create an account for `address` under PAPERSCOPE_SIGNUP, or None."""
    mode = settings.signup_mode
    if mode == "invite":
        return "This paperscope instance is by invitation only: ask an administrator for an invitation link."
    if mode == "domains":
        domain = address.rsplit("@", 1)[-1].lower()
        allowed = settings.signup_domains
        if domain not in allowed:
            return ("Sign-up here is open to addresses at " + ", ".join(allowed) + " only; "
                    "ask an administrator for an invitation.")
    return None


# Email confirmation -----------------------------------------------------------------------------------------

def _verify_serializer(request: Request) -> URLSafeTimedSerializer:
    clock = state(request).clock

    class ClockSigner(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(clock().timestamp())

    return URLSafeTimedSerializer(state(request).settings.signing_key(), salt="paperscope.verify-email",
                                  signer=ClockSigner)


def send_verification(request: Request, background: BackgroundTasks, user: User) -> None:
    """Mail the account a link that confirms its address (valid a week; bound to the address)."""
    settings = state(request).settings
    token = _verify_serializer(request).dumps([user.id, user.email])
    link = f"{settings.base_url.rstrip('/')}/verify-email/{token}"
    background.add_task(send_account_mail, settings, user.email, "Confirm your paperscope address",
                        f"Hello {user.username},\n\nOpen this link to confirm your address and start using "
                        f"paperscope:\n\n{link}\n\nIt works for seven days. If you did not sign up, ignore "
                        "this mail.\n")


@router.get("/verify-email/{token}", summary="Confirm an account's email address")
def verify_email(request: Request, token: Token) -> Response:
    """Confirm the address the link was mailed to (idempotent)."""
    engine = state(request).engine
    try:
        user_id, address = _verify_serializer(request).loads(token, max_age=VERIFY_MAX_AGE)
        user = user_store.get_user(engine, int(user_id))
    except SignatureExpired:
        raise HTTPException(status_code=410, detail="this confirmation link has expired; "
                                                    "ask for a new one on your account page") from None
    except (BadSignature, ValueError, TypeError):
        raise HTTPException(status_code=400, detail="this confirmation link is not valid") from None
    if user is None or user.email != address:
        raise HTTPException(status_code=400, detail="this confirmation link is not valid")
    user_store.mark_verified(engine, user.id, security.now(request))
    return _message(request, "Address confirmed", f"Thank you, {user.username}: your address is confirmed.")


@router.post("/account/verify", summary="Mail a new confirmation link")
def resend_verification(request: Request, background: BackgroundTasks, csrf: Csrf = None) -> Response:
    user = security.viewer(request)
    if user is None:
        raise HTTPException(status_code=401, detail="sign in first")
    security.check_csrf(request, csrf)
    if user.verified:
        return RedirectResponse("/account", status_code=303)
    refusal = security.hourly_refusal(request, "verify-ip")
    if refusal is not None:
        raise security.too_many(refusal)
    send_verification(request, background, user)
    return _message(request, "Check your inbox", f"A new confirmation link is on its way to {user.email}.")


# Secret feed URLs -------------------------------------------------------------------------------------------

def feed_urls(request: Request, user: User) -> dict[str, str]:
    """The account's secret Atom URLs (for feed readers, which cannot sign in)."""
    st = state(request)
    generation = user_store.feed_generation(st.engine, user.id) or 0
    token = feed_token(state(request).signing_key, user.id, generation)
    base = f"{st.settings.base_url.rstrip('/')}/feeds/u/{token}"
    return {"daily": f"{base}/daily.atom", "trending": f"{base}/trending.atom"}


@router.post("/account/feeds/reset", summary="Revoke the account's secret feed URLs")
def reset_feeds(request: Request, csrf: Csrf = None) -> Response:
    user = security.require_user(request)
    security.check_csrf(request, csrf)
    user_store.bump_feed_generation(state(request).engine, user.id)
    return RedirectResponse("/account", status_code=303)


# Invitations ------------------------------------------------------------------------------------------------

def new_invitation(request: Request, creator: User | None, email: str | None, role: str, days: int) -> str:
    """Create an invitation; returns its link (the secret is in it and nowhere else)."""
    st = state(request)
    token = secrets.token_urlsafe(32)
    invitation_store.create_invitation(st.engine, token, email=email, role=role,
                                       created_by=creator.id if creator else None, now=security.now(request),
                                       valid_for=timedelta(days=days))
    return f"{st.settings.base_url.rstrip('/')}/invite/{token}"


def _invitation_or_error(request: Request, token: str) -> invitation_store.Invitation:
    try:
        return invitation_store.check_invitation(state(request).engine, token, security.now(request))
    except InvitationRefused as exc:
        raise HTTPException(status_code=exc.status, detail=str(exc)) from None


@router.get("/invite/{token}", summary="Accept an invitation (form)")
def invitation_form(request: Request, token: Token) -> Response:
    invitation = _invitation_or_error(request, token)
    return _page(request, "invite.html", {"title": "Join paperscope", "token": token,
                                          "values": {"email": invitation.email or ""},
                                          "fixed_email": invitation.email})


@router.post("/invite/{token}", summary="Accept an invitation: create the account")
def accept_invitation(request: Request, token: Token, username: Annotated[str, Form(max_length=40)],
                      email: Annotated[str, Form(max_length=320)],
                      password: Annotated[str, Form(max_length=1024)], csrf: Csrf = None) -> Response:
    """Create the account and spend the invitation in one transaction (a refusal spends nothing)."""
    from paperscope.web.account_rules import new_account_problem

    security.check_csrf(request, csrf)
    invitation = _invitation_or_error(request, token)
    values = {"username": username, "email": email}

    def problem(message: str, status: int = 400) -> Response:
        return _page(request, "invite.html", {"title": "Join paperscope", "token": token, "error": message,
                                              "values": values, "fixed_email": invitation.email},
                     status_code=status)

    wrong, address = new_account_problem(username, password, email)
    if wrong is not None:
        return problem(wrong)
    try:
        user = invitation_store.accept_invitation(state(request).engine, token, username, address,
                                                  security.hash_password(request, password),
                                                  security.now(request))
    except InvitationRefused as exc:
        return problem(str(exc), exc.status)
    except UserExists as exc:
        return problem(str(exc), 409)
    log.info("account created by invitation: %s", user.username)
    response = RedirectResponse("/account", status_code=303)
    security.start_session(request, response, user)
    return response


def _require_admin(request: Request) -> User:
    user = security.require_user(request)
    if user.role != "admin":
        raise HTTPException(status_code=403, detail="administrators only")
    return user


def _invitation_json(inv: invitation_store.Invitation) -> dict[str, Any]:
    return {"id": inv.id, "email": inv.email, "role": inv.role, "created_by": inv.created_by,
            "created_at": inv.created_at.isoformat(), "expires_at": inv.expires_at.isoformat(),
            "used_at": inv.used_at.isoformat() if inv.used_at else None, "used_by": inv.used_by}


def _admin_page(request: Request, new_link: str | None = None, error: str | None = None,
                status_code: int = 200) -> Response:
    listing = invitation_store.list_invitations(state(request).engine)
    if wants_json(request):
        body: dict[str, Any] = {"invitations": [_invitation_json(i) for i in listing]}
        if new_link:
            body["link"] = new_link
        if error:
            body = {"error": error, "status": status_code}
        return JsonResponse(body, status_code=status_code)
    return _page(request, "invitations.html", {"title": "Invitations", "invitations": listing,
                                               "new_link": new_link, "error": error,
                                               "now": security.now(request),
                                               "roles": user_store.ROLES}, status_code=status_code)


@router.get("/admin/invitations", summary="Invitations (administrators)")
def invitations_page(request: Request) -> Response:
    _require_admin(request)
    return _admin_page(request)


@router.post("/admin/invitations", summary="Create an invitation (administrators)")
def create_invitation(request: Request, background: BackgroundTasks,
                      email: Annotated[str, Form(max_length=320)] = "",
                      role: Annotated[str, Form(max_length=16)] = "user",
                      days: Annotated[int, Form(ge=1, le=MAX_INVITATION_DAYS)] = INVITATION_DAYS,
                      csrf: Csrf = None) -> Response:
    """A single-use link, shown once; mailed too when it names an address."""
    admin = _require_admin(request)
    security.check_csrf(request, csrf)
    if role not in user_store.ROLES:
        return _admin_page(request, error=f"role must be one of {', '.join(user_store.ROLES)}",
                           status_code=400)
    address: str | None = None
    if email.strip():
        try:
            address = validate_email(email.strip(), check_deliverability=False).normalized
        except EmailNotValidError as exc:
            return _admin_page(request, error=f"That email address does not look right: {exc}",
                               status_code=400)
    link = new_invitation(request, admin, address, role, days)
    if address:
        background.add_task(send_account_mail, state(request).settings, address,
                            "You are invited to paperscope",
                            f"{admin.username} invites you to paperscope. Create your account here "
                            f"(the link works once, for {days} days):\n\n{link}\n")
    return _admin_page(request, new_link=link, status_code=201)


@router.post("/admin/invitations/{invitation_id}/revoke", summary="Revoke an invitation (administrators)")
def revoke_invitation(request: Request, invitation_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
                      csrf: Csrf = None) -> Response:
    _require_admin(request)
    security.check_csrf(request, csrf)
    if not invitation_store.revoke_invitation(state(request).engine, invitation_id, security.now(request)):
        raise HTTPException(status_code=404, detail="no such unused invitation")
    return RedirectResponse("/admin/invitations", status_code=303)
