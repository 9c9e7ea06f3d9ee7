"""The FastAPI application: `create_app(settings)` wires state, routers, static files and error pages."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import anyio.to_thread
from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from paperscope.settings import Settings
from paperscope.store import open_database
from paperscope.store.version import StoreVersion
from paperscope.web.access import install_access
from paperscope.web.cache import ResponseCache, ResponseCacheMiddleware
from paperscope.web.community_view import install_community
from paperscope.web.empty_params import EmptyParamsMiddleware
from paperscope.web.head_requests import HeadAsGetMiddleware
from paperscope.web.headers import SecurityHeadersMiddleware
from paperscope.web.openapi import install_openapi
from paperscope.web.rendering import STATIC_DIR, JsonResponse, make_templates, render
from paperscope.web.request_guard import RequestGuardMiddleware
from paperscope.web.routes import (
    account_digest,
    accounts,
    alerts,
    atom,
    authors,
    collections_api,
    collections_pages,
    community,
    feed,
    groups,
    hf_api,
    membership,
    meta,
    papers,
    search,
    subscriptions,
)
from paperscope.web.routes.submissions import install_submissions
from paperscope.web.security import install_security
from paperscope.web.shared_cache import shared_pages_for

# Read-only pages whose finished responses may be cached for anonymous visitors.
CACHED_PREFIXES = ("/papers/", "/trending", "/categories", "/search", "/api/search", "/api/daily_papers",
                   "/api/papers/", "/api/stats",
                   "/feeds/")


def _is_api(request: Request) -> bool:
    path = request.url.path
    return (path.startswith("/api/") or request.query_params.get("format") == "json"
            or request.headers.get("accept", "").startswith("application/json"))


def _error(request: Request, status: int, message: str, detail: Any = None) -> Response:
    """A 4xx/5xx as clear JSON for API callers, a friendly page for browsers."""
    if _is_api(request):
        body: dict[str, Any] = {"error": message, "status": status}
        if detail is not None:
            body["detail"] = detail
        return JsonResponse(body, status_code=status)
    return render(request, "error.html", {"status": status, "message": message}, status_code=status)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        message = exc.detail if isinstance(exc.detail, str) else "request failed"
        response = _error(request, exc.status_code, message)
        if exc.headers:  # e.g. Retry-After on 429, WWW-Authenticate on 401
            response.headers.update(exc.headers)
        return response

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        problems = [
            {"where": ".".join(str(p) for p in err.get("loc", ())), "problem": err.get("msg", "")}
            for err in exc.errors()
        ]
        summary = "; ".join(f"{p['where']}: {p['problem']}" for p in problems) or "invalid request"
        return _error(request, 422, f"invalid parameters — {summary}", problems)


def _open_search(engine: Any, settings: Settings) -> Any:
    """A reusable SearchEngine (indexes and encoder load once, on first use); None without the stage."""
    try:
        from paperscope.search import SearchEngine
    except ImportError:
        return None
    return SearchEngine(engine, settings)


# Sync routes run on a thread pool of this many threads per worker (anyio's default). Fewer threads
# (6) were tried to keep renders from crowding the event loop, which answers cached pages itself; on
# this busy 2-core machine the difference was lost in noise, so the default stays.
ROUTE_THREADS = 40


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    anyio.to_thread.current_default_thread_limiter().total_tokens = app.state.route_threads
    maintainer = app.state.index_maintainer
    if maintainer is not None:
        maintainer.start()
    try:
        yield
    finally:
        if maintainer is not None:
            maintainer.stop()
        app.state.store_version.close()


def create_app(settings: Settings, *, cache_seconds: float = 30.0,
               route_threads: int = ROUTE_THREADS, maintain_index: bool = False) -> FastAPI:
    """Build the web app for one installation. State lives on `app.state`, never in module globals.

    Anonymous pages are served from a response cache that drops everything whenever the store's write
    version moves (any committed write, from any process); `cache_seconds` additionally bounds how
    long pages that depend on more than the store (search, trending, Atom) are kept. 0 turns the
    cache off.

    `maintain_index` runs the background index thread (`index/maintainer.py`): catch-up from the store,
    and embedding when `settings.embed_in_background`. `paperscope serve` turns it on.
    """
    settings.ensure_home()
    app = FastAPI(
        title="paperscope",
        description="Self-hosted research-paper discovery. HTML pages have JSON twins (`?format=json`); "
                    "`/api/daily_papers`, `/api/papers/...` follow the Hugging Face API.",
        version="0.1.0",
        # /docs is served from vendored Swagger UI files (routes/meta.py): no CDN, works offline.
        docs_url=None,
        redoc_url=None,
        # paperscope exports no OpenTelemetry data. Left on, FastAPI's native telemetry looks up the
        # global tracer, meter and logger providers on every request, which cost as much as serving
        # a cached page (~40 % of it, profiled).
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    app.state.settings = settings
    app.state.route_threads = route_threads
    app.state.engine = open_database(settings.db_url)
    app.state.templates = make_templates()
    app.state.search_engine = _open_search(app.state.engine, settings)
    app.state.index_maintainer = None
    if maintain_index:
        from paperscope.index.maintainer import IndexMaintainer

        app.state.index_maintainer = IndexMaintainer(app.state.engine, settings,
                                                     embed=settings.embed_in_background,
                                                     poll_seconds=settings.index_poll_seconds)
    app.state.similar_papers = None  # filled by the similar-papers feature when it is installed
    app.state.store_version = StoreVersion(app.state.engine)
    shared = shared_pages_for(settings.home, settings.db_url, max_files=settings.page_cache_entries,
                              max_bytes=settings.page_cache_bytes) if cache_seconds > 0 else None
    app.state.response_cache = ResponseCache(ttl_seconds=cache_seconds, max_bytes=settings.page_cache_bytes,
                                             max_entries=settings.page_cache_entries,
                                             version=app.state.store_version.current, shared=shared)
    app.add_middleware(ResponseCacheMiddleware, cache=app.state.response_cache, prefixes=CACHED_PREFIXES)
    # Outside the cache (added later = runs first): oversized or NUL-carrying requests never reach a
    # route, and every response, cached or not, carries the security headers.
    app.add_middleware(RequestGuardMiddleware, max_body=settings.max_body_bytes,
                       max_upload=settings.max_upload_bytes, error=_error,
                       upload_paths=frozenset({"/api/v1/library/import"}))  # BibTeX as the raw body
    app.add_middleware(SecurityHeadersMiddleware, https=settings.base_url.startswith("https://"))
    app.add_middleware(EmptyParamsMiddleware)  # blank form fields mean "not set", cache keys too
    app.add_middleware(HeadAsGetMiddleware)  # outermost: HEAD runs the GET route, body dropped
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")
    _install_error_handlers(app)
    app.include_router(APIRouter(lifespan=_lifespan))
    # hf_api before papers: `/api/papers/search` must win over the `/api/papers/{id}` catch-all.
    for router in (feed.router, search.router, hf_api.router, papers.router, atom.router, meta.router):
        app.include_router(router)
    app.include_router(subscriptions.router)  # digest subscriptions + the optional digest scheduler
    install_security(app, settings.signing_key())  # accounts: sessions, CSRF, rate limits, tokens
    install_community(app)
    app.include_router(accounts.router)
    app.include_router(community.router)
    install_submissions(app)  # papers submitted to today's feed; new ones fetched off the request threads
    from paperscope.web.routes.similar import install_similar  # similar papers + library / "for you"

    install_similar(app)
    from paperscope.web.mcp_http import install_mcp  # /mcp: the tools for agents (after similar/foryou)

    install_mcp(app)
    from paperscope.web.routes import export  # library export for reference managers

    app.include_router(export.router)
    from paperscope.web.routes.field_map import install_map  # /map: the map of the field

    install_map(app)
    app.include_router(membership.router)  # invitations, email confirmation, secret feed URLs
    for router in (groups.router, collections_api.router, collections_pages.router):  # shared reading lists
        app.include_router(router)
    app.include_router(authors.router)  # author pages and feeds
    app.include_router(alerts.router)  # "Alert me": account-owned alerts, email and webhooks
    install_openapi(app)  # the document says what the routes really answer (errors, HTML, Atom)
    app.include_router(account_digest.router)  # the account's digest, with its "For you" section
    install_access(app, settings.signing_key())  # PAPERSCOPE_ACCESS=members: last added, runs first
    return app
