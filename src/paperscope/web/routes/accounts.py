"""Accounts: sign up, sign in, sign out, the account page (API tokens), password reset by mail.

Every form posts a CSRF token (web/security.py). Sign-in failures and sign-ups are rate limited.
Passwords, session ids and API tokens are never logged and never appear in JSON responses; a new API
token is shown exactly once, on the page that created it.
"""

from __future__ import annotations

import email.utils
import hashlib
import logging
import secrets
from email.message import EmailMessage
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Form, HTTPException, Path, Request
from fastapi.responses import RedirectResponse, Response
from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer

from paperscope.mail.smtp import SendFailure, SmtpConfig, SmtpTransport
from paperscope.settings import Settings
from paperscope.store import users as user_store
from paperscope.store.users import User, UserExists
from paperscope.web import security
from paperscope.web.account_rules import MIN_PASSWORD, new_account_problem
from paperscope.web.app_state import state
from paperscope.web.params import RowId
from paperscope.web.rendering import JsonResponse, render

log = logging.getLogger("paperscope.accounts")
router = APIRouter(tags=["accounts"])

TAKEN = ("That account could not be created. If you already have one, sign in or reset your password; "
         "otherwise choose another username.")
RESET_MAX_AGE = 3600
Csrf = Annotated[str | None, Form(max_length=400)]  # optional so a missing token is a 403, not a 422
Password = Annotated[str, Form(max_length=1024)]


def user_json(user: User) -> dict[str, Any]:
    """What the API says about an account (no hashes, no tokens)."""
    return {"username": user.username, "role": user.role, "status": user.status,
            "created_at": user.created_at.isoformat()}


def _safe_next(target: str | None) -> str:
    # Only same-site paths: an open redirect would let phishing pages borrow our sign-in form.
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


def _page(request: Request, template: str, context: dict[str, Any], status_code: int = 200) -> Response:
    response = render(request, f"accounts/{template}", {"csrf": security.csrf_token(request), **context},
                      status_code=status_code)
    return security.attach_csrf_cookie(request, response)


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


# Sign up / in / out ----------------------------------------------------------------------------------------

@router.get("/signup", summary="Sign-up form")
def signup_form(request: Request) -> Response:
    from paperscope.web.routes.membership import signup_refusal

    if state(request).settings.signup_mode == "invite":
        raise HTTPException(status_code=403, detail=signup_refusal(state(request).settings, ""))
    target = _safe_next(request.query_params.get("next"))
    return _page(request, "signup.html", {"title": "Create an account", "values": {}, "next": target})


@router.post("/signup", summary="Create an account")
def signup(request: Request, background: BackgroundTasks, username: Annotated[str, Form(max_length=40)],
           email: Annotated[str, Form(max_length=320)], password: Password, csrf: Csrf = None,
           next: Annotated[str, Form(max_length=500)] = "/") -> Response:
    """Create the account (unconfirmed: a link is mailed) and sign it in, back on the page that sent
    them here. Rate limited per IP; PAPERSCOPE_SIGNUP may restrict it to invitations or to some email
    domains."""
    from paperscope.web.routes.membership import send_verification, signup_refusal

    security.check_csrf(request, csrf)
    values = {"username": username, "email": email}

    def problem(message: str, status: int = 400) -> Response:
        return _page(request, "signup.html", {"title": "Create an account", "error": message,
                                              "values": values, "next": _safe_next(next)},
                     status_code=status)

    wrong, address = new_account_problem(username, password, email)
    if wrong is not None:
        return problem(wrong)
    closed = signup_refusal(state(request).settings, address)
    if closed is not None:
        return problem(closed, 403)
    refusal = security.hourly_refusal(request, "signup-ip")
    if refusal is not None:
        raise security.too_many(refusal)
    try:
        user = user_store.create_user(state(request).engine, username, address,
                                      security.hash_password(request, password), now=security.now(request),
                                      verified=False)
    except UserExists:
        # The same words and status as any refused sign-up, whether the name or the address is taken
        # (and the address is not echoed back): the form should not confirm who is registered here.
        values["email"] = ""
        return problem(TAKEN)
    log.info("account created: %s", user.username)
    send_verification(request, background, user)
    # Back to what they were doing (the page that sent them to sign up), else the welcome page.
    target = _safe_next(next)
    response = _redirect(target if target != "/" else "/account?welcome=1")
    security.start_session(request, response, user)
    return response


@router.get("/signin", summary="Sign-in form")
def signin_form(request: Request) -> Response:
    target = request.query_params.get("next")
    return _page(request, "signin.html", {"title": "Sign in", "next": _safe_next(target), "values": {}})


@router.post("/signin", summary="Sign in")
def signin(request: Request, login: Annotated[str, Form(max_length=320)], password: Password,
           csrf: Csrf = None, next: Annotated[str, Form(max_length=500)] = "/") -> Response:
    """Check the password (argon2id); throttled per account and per IP; a new session id each time."""
    security.check_csrf(request, csrf)
    user = user_store.find_user(state(request).engine, login)
    # Failures count against what was typed (name or address), so a lock never links the two.
    account = login.strip().lower()[:320]
    refusal = security.signin_refusal(request, account)
    if refusal is not None:
        # On the sign-in form itself, with the wait in words (and Retry-After for scripts).
        context = {"title": "Sign in", "error": refusal.reason.capitalize() + ".", "next": _safe_next(next),
                   "values": {"login": login}}
        refused = _page(request, "signin.html", context, status_code=429)
        refused.headers["Retry-After"] = str(refusal.retry_after)
        return refused
    ok = security.verify_password(request, user, password) if user else False
    if user is None:
        security.dummy_verify(request)
    if not ok or user is None:
        security.record_signin_failure(request, account)
        log.info("failed sign-in for %r", account[:80])
        return _page(request, "signin.html", {"title": "Sign in", "error": "Wrong username or password.",
                                              "next": _safe_next(next), "values": {"login": login}},
                     status_code=401)
    if not user.active:
        return _page(request, "signin.html", {"title": "Sign in", "error": "This account is suspended.",
                                              "next": _safe_next(next), "values": {"login": login}},
                     status_code=403)
    security.record_signin_success(request, account)
    response = _redirect(_safe_next(next))
    security.start_session(request, response, user)
    return response


@router.post("/signout", summary="Sign out")
def signout(request: Request, csrf: Csrf = None) -> Response:
    security.check_csrf(request, csrf)
    response = _redirect("/")
    security.end_session(request, response)
    return response


# Account page and API tokens ------------------------------------------------------------------------------

def _account_page(request: Request, user: User, new_token: str | None = None) -> Response:
    from paperscope.web.routes.membership import feed_urls

    tokens = user_store.list_api_tokens(state(request).engine, user.id)
    return _page(request, "account.html", {"title": "Your account", "user": user, "tokens": tokens,
                                           "new_token": new_token,
                                           "feeds": feed_urls(request, user) if user.verified else None,
                                           "welcome": request.query_params.get("welcome") == "1"})


@router.get("/account", summary="Account page")
def account(request: Request) -> Response:
    user = security.viewer(request)
    if user is None:
        return _redirect("/signin?next=/account")
    return _account_page(request, user)


@router.post("/account/tokens", summary="Create an API token")
def create_token(request: Request, name: Annotated[str, Form(min_length=1, max_length=100)],
                 csrf: Csrf = None) -> Response:
    """Create a bearer token for scripts; shown once on the page that answers (only its hash is kept)."""
    user = security.require_user(request)
    security.check_csrf(request, csrf)
    token = "ps_" + secrets.token_urlsafe(32)
    user_store.create_api_token(state(request).engine, user.id, name.strip(), token)
    return _account_page(request, user, new_token=token)


@router.post("/account/tokens/{token_id}/revoke", summary="Revoke an API token")
def revoke_token(request: Request, token_id: RowId, csrf: Csrf = None) -> Response:
    user = security.require_user(request)
    security.check_csrf(request, csrf)
    if not user_store.revoke_api_token(state(request).engine, user.id, token_id):
        raise HTTPException(status_code=404, detail="no such token")
    return _redirect("/account")


@router.get("/api/v1/me", summary="The signed-in account (JSON)", tags=["community-api"])
def me(request: Request) -> Response:
    """Who the bearer token (or session) belongs to."""
    return JsonResponse(user_json(security.require_user(request)))


# Password reset --------------------------------------------------------------------------------------------

def _reset_serializer(request: Request) -> URLSafeTimedSerializer:
    clock = state(request).clock

    class ClockSigner(TimestampSigner):
        # Token age is measured on the app's clock, the same one sessions and rate limits use.
        def get_timestamp(self) -> int:
            return int(clock().timestamp())

    return URLSafeTimedSerializer(state(request).settings.signing_key(), salt="paperscope.password-reset",
                                  signer=ClockSigner)


def _fingerprint(password_hash: str) -> str:
    # Part of the token: once the password changes the token no longer matches, so it works only once.
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]


def reset_token(request: Request, user: User) -> str:
    """A signed token naming the account and its current password hash's fingerprint."""
    stored = user_store.password_hash_of(state(request).engine, user.id) or ""
    return str(_reset_serializer(request).dumps([user.id, _fingerprint(stored)]))


def _reset_user(request: Request, token: str) -> User:
    st = state(request)
    try:
        user_id, fingerprint = _reset_serializer(request).loads(token, max_age=RESET_MAX_AGE)
        user = user_store.get_user(st.engine, int(user_id))
    except SignatureExpired:
        raise HTTPException(status_code=410,
                            detail="this reset link has expired; ask for a new one") from None
    except (BadSignature, ValueError, TypeError):
        raise HTTPException(status_code=400, detail="this reset link is not valid") from None
    stored = user_store.password_hash_of(st.engine, user.id) if user else None
    if user is None or stored is None or not secrets.compare_digest(_fingerprint(stored), str(fingerprint)):
        raise HTTPException(status_code=400, detail="this reset link has already been used")
    return user


def send_reset_mail(settings: Settings, recipient: str, username: str, link: str) -> None:
    """Send the reset link through the mail stage's SMTP transport (errors are logged, not raised)."""
    msg = EmailMessage()
    msg["From"] = settings.mail_from
    msg["To"] = recipient
    msg["Subject"] = "Reset your paperscope password"
    msg["Date"] = email.utils.formatdate(localtime=False)
    msg["Message-ID"] = email.utils.make_msgid(domain="paperscope")
    msg.set_content(f"Hello {username},\n\nSomeone (hopefully you) asked to reset your paperscope password.\n"
                    f"Open this link within an hour to choose a new one:\n\n{link}\n\n"
                    "If you did not ask, ignore this mail; your password stays as it is.\n")
    raw = msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))
    try:
        with SmtpTransport(SmtpConfig.from_settings(settings)) as transport:
            transport.send(recipient, raw)
    except SendFailure as exc:
        log.warning("password reset mail to user %s not sent: %s", username, exc)


@router.get("/password-reset", summary="Ask for a password reset link")
def reset_request_form(request: Request) -> Response:
    return _page(request, "reset_request.html", {"title": "Reset your password"})


@router.post("/password-reset", summary="Mail a password reset link")
def reset_request(request: Request, background: BackgroundTasks,
                  email: Annotated[str, Form(max_length=320)], csrf: Csrf = None) -> Response:
    """Mail a signed link valid for an hour. The answer is the same whether or not the address is known."""
    security.check_csrf(request, csrf)
    refusal = security.hourly_refusal(request, "reset-ip")
    if refusal is not None:
        raise security.too_many(refusal)
    st = state(request)
    user = user_store.find_user(st.engine, email)
    if user is not None and user.active and "@" in email:
        link = f"{st.settings.base_url.rstrip('/')}/password-reset/{reset_token(request, user)}"
        background.add_task(send_reset_mail, st.settings, user.email, user.username, link)
    return _page(request, "message.html", {
        "title": "Check your inbox", "heading": "Check your inbox",
        "message": "If an account uses that address, a reset link is on its way. It works for one hour."})


@router.get("/password-reset/{token}", summary="Choose a new password")
def reset_form(request: Request, token: Annotated[str, Path(max_length=400)]) -> Response:
    user = _reset_user(request, token)
    return _page(request, "reset_form.html", {"title": "Choose a new password", "token": token,
                                              "username": user.username})


@router.post("/password-reset/{token}", summary="Set the new password")
def reset_submit(request: Request, token: Annotated[str, Path(max_length=400)], password: Password,
                 csrf: Csrf = None) -> Response:
    """Set the password, end every session and revoke every API token of the account, sign in afresh.

    Tokens go too: a reset usually means the old password leaked, and whoever held it could have
    minted tokens that would otherwise outlive the reset."""
    security.check_csrf(request, csrf)
    user = _reset_user(request, token)
    if len(password) < MIN_PASSWORD:
        return _page(request, "reset_form.html", {"title": "Choose a new password", "token": token,
                                                  "username": user.username,
                                                  "error": f"At least {MIN_PASSWORD} characters, please."},
                     status_code=400)
    user_store.set_password_hash(state(request).engine, user.id, security.hash_password(request, password))
    revoked = user_store.revoke_all_api_tokens(state(request).engine, user.id)
    if revoked:
        log.info("password reset for %s revoked %d API token(s)", user.username, revoked)
    security.forget_signin_failures(request, user)
    response = _redirect("/account")
    security.start_session(request, response, user)
    return response
