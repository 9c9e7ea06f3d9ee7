"""Who may read: PAPERSCOPE_ACCESS=members turns the site into a private instance, and secret feed URLs.

With `members`, one ASGI middleware (outside the response cache, so no cached page can leak) lets
through only

- the routes in PUBLIC_ROUTES (sign-in, password reset, invitation acceptance, unsubscribe, health),
  `/signup` when PAPERSCOPE_SIGNUP is not `invite`, and /static;
- requests of a signed-in account whose address is confirmed; an unconfirmed one reaches only its
  account pages (UNVERIFIED_ROUTES) until it confirms;

and answers everything else with 303 to the sign-in page (pages) or 401 (API, JSON twins, feeds). The
rule is a list of allowed routes, never a list of protected ones: a route added later is private.

Feed readers cannot sign in, so each account has secret Atom URLs: `/feeds/u/<token>/daily.atom` serves
`/feeds/daily.atom` as that account. The token is the account id and an HMAC of it with the installation
key and the account's `feed_generation` (nothing secret is stored; bumping the generation revokes every
URL at once). They work in both access modes.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Any
from urllib.parse import quote

import anyio.to_thread
import orjson
from fastapi import FastAPI, Request
from fastapi.routing import iter_route_contexts
from starlette.routing import BaseRoute, compile_path
from starlette.types import ASGIApp, Receive, Scope, Send

from paperscope.store import users as user_store
from paperscope.store.users import User
from paperscope.web import security
from paperscope.web.app_state import app_state

# Route templates (as declared) anyone may reach on a members-only instance.
PUBLIC_ROUTES = frozenset({
    "/signin", "/password-reset", "/password-reset/{token}", "/invite/{token}",
    "/subscriptions/unsubscribe/{token}", "/healthz", "/verify-email/{token}",
})
SIGNUP_ROUTES = frozenset({"/signup"})
# What a signed-in account with an unconfirmed address may still reach (to confirm it, or leave).
UNVERIFIED_ROUTES = frozenset({"/account", "/account/verify", "/signout", "/api/v1/me"})
FEED_PREFIX = "/feeds/u/"
_FEED_PATH = re.compile(r"^/feeds/u/(\d+)\.([0-9a-f]{32})(/.+\.atom)$")


def feed_token(signing_key: str, user_id: int, generation: int) -> str:
    """The secret path segment of an account's feed URLs."""
    mac = hmac.new(signing_key.encode(), f"feed:{user_id}:{generation}".encode(), hashlib.sha256)
    return f"{user_id}.{mac.hexdigest()[:32]}"


def feed_user(app: Any, token_path: str) -> tuple[User, str] | None:
    """(account, the public feed path) for a secret feed path, None when it is not a valid one."""
    found = _FEED_PATH.match(token_path)
    if found is None:
        return None
    user_id = int(found.group(1))
    st = app_state(app)
    engine = st.engine
    generation = user_store.feed_generation(engine, user_id)
    if generation is None:
        return None
    expected = feed_token(st.signing_key, user_id, generation)
    if not hmac.compare_digest(expected, f"{found.group(1)}.{found.group(2)}"):
        return None
    user = user_store.get_user(engine, user_id)
    if user is None or not user.active or not user.verified:
        return None
    return user, "/feeds" + found.group(3)


def served_routes(routes: list[BaseRoute]) -> list[tuple[str, frozenset[str]]]:
    """Every (path template, methods) the app serves, included routers flattened (the route table)."""
    table = []
    for ctx in iter_route_contexts(routes):
        if ctx.path is not None and ctx.methods:
            table.append((ctx.path, frozenset(ctx.methods)))
    return table


def _templates(routes: list[BaseRoute], allowed: frozenset[str]) -> list[re.Pattern[str]]:
    return [compile_path(path)[0] for path, _ in served_routes(routes) if path in allowed]


def _is_api(scope: Scope, path: str) -> bool:
    if path.startswith(("/api/", "/feeds/", "/openapi.json")):
        return True
    query = scope.get("query_string", b"")
    if b"format=json" in query:
        return True
    for name, value in scope.get("headers", ()):
        if name == b"accept" and value.startswith(b"application/json"):
            return True
    return False


async def _answer(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-length", str(len(body)).encode()), *headers]})
    await send({"type": "http.response.body", "body": body})


class MembersOnlyMiddleware:
    """The gate described in the module docstring (installed only with PAPERSCOPE_ACCESS=members)."""

    def __init__(self, app: ASGIApp, routes: list[BaseRoute], signup_open: bool) -> None:
        self.app = app
        self._routes = routes
        self._signup_open = signup_open
        self._public: list[re.Pattern[str]] | None = None
        self._unverified: list[re.Pattern[str]] = []

    def _compile(self) -> list[re.Pattern[str]]:
        # Routes are all registered by the time the first request arrives.
        if self._public is None:
            allowed = PUBLIC_ROUTES | (SIGNUP_ROUTES if self._signup_open else frozenset())
            self._unverified = _templates(self._routes, UNVERIFIED_ROUTES)
            self._public = _templates(self._routes, allowed)
        return self._public

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path.startswith("/static/") or any(p.match(path) for p in self._compile()):
            await self.app(scope, receive, send)
            return
        user = await _viewer(scope)
        if user is not None and (user.verified or any(p.match(path) for p in self._unverified)):
            await self.app(scope, receive, send)
            return
        if _is_api(scope, path):
            problem = ("confirm your email address first (see your account page)" if user is not None
                       else "sign in first: this paperscope instance is for members only")
            status = 403 if user is not None else 401
            body = orjson.dumps({"error": problem, "status": status})
            await _answer(send, status, [(b"content-type", b"application/json")], body)
            return
        target = path + ("?" + scope["query_string"].decode("latin-1") if scope.get("query_string") else "")
        location = "/account" if user is not None else "/signin?next=" + quote(target, safe="/")
        await _answer(send, 303, [(b"location", location.encode("latin-1"))], b"")


async def _viewer(scope: Scope) -> User | None:
    """The request's account, looked up off the event loop (and remembered for the route)."""
    known = scope.get("state", {})
    if "viewer" in known:  # a secret feed URL already said who is asking
        found: User | None = known["viewer"]
        return found
    if not any(name in (b"cookie", b"authorization") for name, _ in scope.get("headers", ())):
        return None
    request = Request(scope)
    return await anyio.to_thread.run_sync(security.viewer, request)


class FeedTokenMiddleware:
    """Serve `/feeds/u/<token>/X.atom` as `/feeds/X.atom` for the token's account; 404 for a bad token."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(FEED_PREFIX):
            await self.app(scope, receive, send)
            return
        found = await anyio.to_thread.run_sync(feed_user, scope["app"], scope["path"])
        if found is None:
            body = orjson.dumps({"error": "unknown or revoked feed link", "status": 404})
            await _answer(send, 404, [(b"content-type", b"application/json")], body)
            return
        user, public_path = found
        # Headers that identify a browser visitor are dropped: the token alone says who is asking.
        headers = [(n, v) for n, v in scope.get("headers", ()) if n not in (b"cookie", b"authorization")]
        state = dict(scope.get("state", {}))
        state["viewer"] = user
        await self.app({**scope, "path": public_path, "raw_path": public_path.encode(), "headers": headers,
                        "state": state}, receive, send)


def install_access(app: FastAPI) -> None:
    """Add the members-only gate when configured, and the secret feed URLs (outermost: they run first)."""
    settings = app_state(app).settings
    if settings.members_only:
        app.add_middleware(MembersOnlyMiddleware, routes=app.router.routes,
                           signup_open=settings.signup_mode != "invite")
    app.add_middleware(FeedTokenMiddleware)
