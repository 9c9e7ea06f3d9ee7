"""Sign-in machinery: password hashing, sessions, CSRF tokens, sign-in/sign-up rate limits, bearer tokens.

- Passwords: argon2id (OWASP's parameters, see `passwords.password_hasher`), re-hashed when the
  parameters change.
- Sessions: a random 256-bit cookie (`ps_session`: HttpOnly, SameSite=Lax, Secure under https); the
  store keeps its SHA-256. A new id is issued at every sign-in and sign-out deletes it server-side.
- CSRF: every form carries a token signed with the installation key (itsdangerous) and bound to the
  visitor — to the session when signed in, else to a random `ps_csrf` cookie — so a token lifted from
  one visitor is useless to another, and a cross-site post carries none. JSON API writes authenticated
  by cookie need the same token in an `X-CSRF-Token` header; bearer tokens need none.
- Rate limits: sign-in failures are counted per (client IP, typed login), per login and per IP in the
  store; after a few failures a client's attempts must wait (doubling), then that client is blocked
  for a while; a client that has not failed still gets in with the right password
  (see `signin_refusal`).
  Sign-ups and reset requests are capped per IP. Limits and the clock live in the app state.
"""

from __future__ import annotations

import contextlib
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import HTTPException, Request
from fastapi.responses import Response
from fastapi.templating import Jinja2Templates
from itsdangerous import BadSignature, URLSafeTimedSerializer

from paperscope.store import users as user_store
from paperscope.store.users import User
from paperscope.web.app_state import state
from paperscope.web.auth_limits import AuthLimits

SESSION_COOKIE = "ps_session"
CSRF_COOKIE = "ps_csrf"
CSRF_HEADER = "x-csrf-token"
SESSION_DAYS = 30
CSRF_MAX_AGE = 12 * 3600
# An account whose address is unconfirmed may manage itself (to confirm it) but not act.
UNVERIFIED_MAY = ("/account", "/api/v1/me", "/signout")
UNVERIFIED_PROBLEM = ("confirm your email address first: open the link we mailed you "
                      "(your account page sends a new one)")
CSRF_PROBLEM = "missing or invalid CSRF token; reload the page and try again"


@dataclass(frozen=True)
class Refusal:
    """A throttled attempt: why, and when to come back."""

    reason: str
    retry_after: int


def _hasher(request: Request) -> PasswordHasher:
    hasher: PasswordHasher = state(request).password_hasher
    return hasher


def hash_password(request: Request, password: str) -> str:
    """argon2id hash of a password."""
    return _hasher(request).hash(password)


def verify_password(request: Request, user: User, password: str) -> bool:
    """Check a password; upgrade the stored hash when the hashing parameters have changed."""
    engine = state(request).engine
    stored = user_store.password_hash_of(engine, user.id)
    if stored is None:
        return False
    hasher = _hasher(request)
    try:
        hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False
    if hasher.check_needs_rehash(stored):
        user_store.set_password_hash(engine, user.id, hasher.hash(password))
    return True


def dummy_verify(request: Request) -> None:
    """Spend the time a real verification takes, so unknown names cannot be told apart by timing."""
    hasher = _hasher(request)
    with contextlib.suppress(VerificationError):
        hasher.verify(state(request).dummy_hash.get(), "not the password")


def now(request: Request) -> datetime:
    """The app's clock (tests install a controllable one)."""
    return state(request).clock()


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


# Who is asking -----------------------------------------------------------------------------------------

def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def viewer(request: Request) -> User | None:
    """The signed-in account (bearer token or session cookie), looked up once per request."""
    if hasattr(request.state, "viewer"):
        found: User | None = request.state.viewer
        return found
    engine: sa.Engine = state(request).engine
    user: User | None = None
    token = _bearer(request)
    if token is not None:
        user = user_store.token_user(engine, token)
        request.state.via_token = user is not None
    else:
        cookie = request.cookies.get(SESSION_COOKIE)
        if cookie:
            user = user_store.session_user(engine, cookie, now(request))
    request.state.viewer = user
    return user


def require_user(request: Request) -> User:
    """The signed-in account, or 401 (API) / a redirect to the sign-in page (browsers)."""
    user = viewer(request)
    if user is None:
        if _bearer(request) is not None:
            raise HTTPException(status_code=401, detail="invalid or revoked API token",
                                headers={"WWW-Authenticate": "Bearer"})
        raise HTTPException(status_code=401, detail="sign in first")
    if not user.verified and not request.url.path.startswith(UNVERIFIED_MAY):
        raise HTTPException(status_code=403, detail=UNVERIFIED_PROBLEM)
    return user


def require_moderator(request: Request) -> User:
    """A signed-in moderator (or admin), else 403."""
    user = require_user(request)
    if not user.is_moderator:
        raise HTTPException(status_code=403, detail="moderators only")
    return user


# CSRF ---------------------------------------------------------------------------------------------------

def _csrf_serializer(request: Request) -> URLSafeTimedSerializer:
    serializer: URLSafeTimedSerializer = state(request).csrf_serializer
    return serializer


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:32]


def _binding(request: Request) -> str | None:
    session = request.cookies.get(SESSION_COOKIE)
    if session and viewer(request) is not None:
        return "s:" + _digest(session)
    anon = getattr(request.state, "new_csrf_cookie", None) or request.cookies.get(CSRF_COOKIE)
    return "a:" + _digest(anon) if anon else None


def csrf_token(request: Request) -> str:
    """The token forms on this page carry. For a visitor without a binding cookie, one is minted and
    must be set on the response with `attach_csrf_cookie` (the sign-in/up and reset pages do)."""
    binding = _binding(request)
    if binding is None:
        request.state.new_csrf_cookie = secrets.token_urlsafe(32)
        binding = _binding(request)
    return str(_csrf_serializer(request).dumps(binding))


def attach_csrf_cookie(request: Request, response: Response) -> Response:
    """Set the anonymous CSRF cookie minted while rendering, if any."""
    value = getattr(request.state, "new_csrf_cookie", None)
    if value:
        response.set_cookie(CSRF_COOKIE, value, httponly=True, samesite="lax", secure=_secure(request),
                            path="/")
    return response


def check_csrf(request: Request, token: str | None) -> None:
    """403 unless `token` was issued to this visitor within the last CSRF_MAX_AGE seconds."""
    binding = _binding(request)
    try:
        if not token or binding is None:
            raise BadSignature("missing")
        issued_to = _csrf_serializer(request).loads(token, max_age=CSRF_MAX_AGE)
    except BadSignature:
        raise HTTPException(status_code=403, detail=CSRF_PROBLEM) from None
    if not secrets.compare_digest(str(issued_to), binding):
        raise HTTPException(status_code=403, detail=CSRF_PROBLEM)


def api_writer(request: Request) -> User:
    """The account behind a JSON API write: a bearer token, or a session cookie plus X-CSRF-Token."""
    user = require_user(request)
    if not getattr(request.state, "via_token", False):
        check_csrf(request, request.headers.get(CSRF_HEADER))
    return user


# Sessions -----------------------------------------------------------------------------------------------

def _secure(request: Request) -> bool:
    return str(state(request).settings.base_url).startswith("https://")


def start_session(request: Request, response: Response, user: User) -> None:
    """Sign in: drop any session the browser had and issue a fresh id (no session fixation)."""
    engine = state(request).engine
    old = request.cookies.get(SESSION_COOKIE)
    if old:
        user_store.delete_session(engine, old)
    token = secrets.token_urlsafe(32)
    issued = now(request)
    user_store.create_session(engine, user.id, token, issued + timedelta(days=SESSION_DAYS), issued)
    response.set_cookie(SESSION_COOKIE, token, max_age=SESSION_DAYS * 86400, httponly=True, samesite="lax",
                        secure=_secure(request), path="/")
    request.state.viewer = user


def end_session(request: Request, response: Response) -> None:
    """Sign out: delete the session server-side, so the old cookie is worthless even if kept."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        user_store.delete_session(state(request).engine, cookie)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=_secure(request))


# Rate limits --------------------------------------------------------------------------------------------

def _limits(request: Request) -> AuthLimits:
    limits: AuthLimits = state(request).auth_limits
    return limits


def _client_key(request: Request, login: str) -> str:
    return f"{client_ip(request)} {login}"


def signin_refusal(request: Request, login: str) -> Refusal | None:
    """Whether a sign-in attempt for the typed `login` (name or address, lower-cased) from this client
    must be refused right now.

    Throttling is per (client IP, login): a client that keeps failing waits longer after each failure
    and is then blocked, while the same account stays open to a client that has not failed (else
    anyone could lock anyone out, admins included, with ten wrong guesses). A login that many clients
    together fail `block_after` times in the window is locked only for the clients that failed on it.
    Counters follow what was typed, not the account it resolves to, so locking a name says nothing
    about which address belongs to it.
    """
    engine, limits, at = state(request).engine, _limits(request), now(request)
    since = at - limits.window
    ip_failures = user_store.recent_auth_events(engine, "signin-fail-ip", client_ip(request), since)
    if len(ip_failures) >= limits.ip_block_after:
        wait = ip_failures[-limits.ip_block_after] + limits.window - at
        return Refusal("too many failed sign-ins from your network; try again " + wait_words(wait),
                       _seconds(wait))
    mine = user_store.recent_auth_events(engine, "signin-fail-client", _client_key(request, login), since)
    if not mine:
        return None
    everyone = user_store.recent_auth_events(engine, "signin-fail-login", login, since)
    if len(mine) >= limits.block_after or len(everyone) >= limits.block_after:
        wait = max(mine[-1], everyone[-1]) + limits.window - at
        return Refusal("too many failed sign-ins for this account; try again " + wait_words(wait),
                       _seconds(wait))
    if len(mine) >= limits.free_failures:
        extra = len(mine) - limits.free_failures
        delay = timedelta(seconds=min(limits.slow_seconds * 2 ** extra, limits.max_slow_seconds))
        wait = mine[-1] + delay - at
        if wait > timedelta(0):
            return Refusal("too many failed sign-ins; try again " + wait_words(wait), _seconds(wait))
    return None


def wait_words(delta: timedelta) -> str:
    """How long to wait, for people: "in 12 seconds", "in 3 minutes"."""
    seconds = _seconds(delta)
    if seconds < 90:
        return f"in {seconds} second{'s' if seconds != 1 else ''}"
    minutes = (seconds + 59) // 60
    return f"in {minutes} minutes"


def _seconds(delta: timedelta) -> int:
    return max(int(delta.total_seconds() + 0.999), 1)


def record_signin_failure(request: Request, login: str) -> None:
    engine, at = state(request).engine, now(request)
    user_store.record_auth_event(engine, "signin-fail-client", _client_key(request, login), at)
    user_store.record_auth_event(engine, "signin-fail-login", login, at)
    user_store.record_auth_event(engine, "signin-fail-ip", client_ip(request), at)


def record_signin_success(request: Request, login: str) -> None:
    """Forget this client's failures on this login (not other clients': a success from elsewhere must
    not reset an attacker's lock)."""
    engine, at = state(request).engine, now(request)
    user_store.clear_auth_events(engine, "signin-fail-client", _client_key(request, login))
    # Housekeeping on a path that is rare and already slow (argon2): old events and dead sessions go.
    user_store.prune_auth_events(engine, at - max(_limits(request).window, timedelta(hours=1)))
    user_store.prune_sessions(engine, at)


def forget_signin_failures(request: Request, user: User) -> None:
    """After a password reset the old guesses are moot: clear the locks on the account's name and
    address, for every client."""
    engine = state(request).engine
    for login in (user.username.lower(), user.email.lower()):
        user_store.clear_auth_events(engine, "signin-fail-login", login)
        user_store.clear_auth_events(engine, "signin-fail-client", _client_key(request, login))


def hourly_refusal(request: Request, kind: str, *, subject: str | None = None, limit: int | None = None,
                   reason: str = "too many requests from your network; try again later") -> Refusal | None:
    """Cap sign-ups / reset / subscription requests per hour, per IP (or per `subject`, e.g. an
    address); counts this attempt when allowed."""
    engine, at = state(request).engine, now(request)
    limit = _limits(request).hourly_per_ip if limit is None else limit
    key = client_ip(request) if subject is None else subject
    recent = user_store.recent_auth_events(engine, kind, key, at - timedelta(hours=1))
    if len(recent) >= limit:
        wait = recent[-limit] + timedelta(hours=1) - at
        said = reason.removesuffix("later") + wait_words(wait) if reason.endswith("later") else reason
        return Refusal(said, _seconds(wait))
    user_store.record_auth_event(engine, kind, key, at)
    return None


def subscription_refusal(request: Request, address: str) -> Refusal | None:
    """Cap confirmation mails: requests per IP and per (normalised) address per hour."""
    limits = _limits(request)
    return (hourly_refusal(request, "subscribe-ip", limit=limits.subscribe_per_ip)
            or hourly_refusal(request, "subscribe-address", subject=address,
                              limit=limits.subscribe_per_address,
                              reason="too many requests for this address; try again later"))


def too_many(refusal: Refusal) -> HTTPException:
    """A 429 carrying Retry-After."""
    return HTTPException(status_code=429, detail=refusal.reason,
                         headers={"Retry-After": str(refusal.retry_after)})


# Installation --------------------------------------------------------------------------------------------

def csrf_signer(signing_key: str) -> URLSafeTimedSerializer:
    """What signs CSRF tokens: the installation key, with a salt of its own."""
    return URLSafeTimedSerializer(signing_key, salt="paperscope.csrf")


def install_security(templates: Jinja2Templates) -> None:
    """Expose `viewer` and `csrf_token` to templates."""
    env: Any = templates.env
    env.globals["viewer"] = viewer
    env.globals["csrf_token"] = csrf_token
