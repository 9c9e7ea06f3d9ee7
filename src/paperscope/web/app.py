"""The FastAPI application: `create_app(settings)` wires state, routers, static files and error pages."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import anyio.to_thread
import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from paperscope import __version__
from paperscope.feed.field_map import MapCache, map_path
from paperscope.feed.foryou import ForYou, digest_picks
from paperscope.feed.similar import SimilarPapers
from paperscope.feed.trending import trending_fetch
from paperscope.mail.scheduler import DigestScheduler
from paperscope.model import Paper
from paperscope.search import SearchEngine
from paperscope.search.authors import AuthorDirectory
from paperscope.settings import Settings
from paperscope.store import open_database
from paperscope.store.version import StoreVersion
from paperscope.web import passwords, security
from paperscope.web.access import install_access
from paperscope.web.app_state import AppState, app_state, keep_app_state
from paperscope.web.auth_limits import AuthLimits, utc_now
from paperscope.web.cache import ResponseCache, ResponseCacheMiddleware
from paperscope.web.community_view import comment_renderer, install_community
from paperscope.web.empty_params import EmptyParamsMiddleware
from paperscope.web.head_requests import HeadAsGetMiddleware
from paperscope.web.headers import SecurityHeadersMiddleware
from paperscope.web.openapi import install_openapi
from paperscope.web.rendering import STATIC_DIR, JsonResponse, make_templates, render
from paperscope.web.request_guard import RequestGuardMiddleware
from paperscope.web.routers import routers
from paperscope.web.routes.library import install_library
from paperscope.web.routes.submissions import SUBMISSION_WAIT, submission_queue
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


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Start the background work (index maintainer, digest scheduler) and stop everything on the way out."""
    st = app_state(app)
    anyio.to_thread.current_default_thread_limiter().total_tokens = st.route_threads
    if st.index_maintainer is not None:
        st.index_maintainer.start()
    if st.digest_scheduler is not None:
        st.digest_scheduler.start()
    try:
        yield
    finally:
        if st.digest_scheduler is not None:
            await st.digest_scheduler.stop()
        await run_in_threadpool(st.submission_queue.stop)
        if st.index_maintainer is not None:
            st.index_maintainer.stop()
        st.store_version.close()


def _app_state(app: FastAPI, settings: Settings, cache_seconds: float, route_threads: int,
               maintain_index: bool) -> AppState:
    """Everything the app's requests and background work share, built once."""
    engine = open_database(settings.db_url)
    search_engine = SearchEngine(engine, settings)  # indexes and encoder load once, on first use
    store_version = StoreVersion(engine)
    shared = shared_pages_for(settings.home, settings.db_url, max_files=settings.page_cache_entries,
                              max_bytes=settings.page_cache_bytes) if cache_seconds > 0 else None
    hasher = passwords.password_hasher()
    signing_key = settings.signing_key()
    st = AppState(
        settings=settings, engine=engine, templates=make_templates(), route_threads=route_threads,
        search_engine=search_engine, similar=SimilarPapers(search_engine.retriever),
        foryou=ForYou(search_engine.retriever),
        author_directory=AuthorDirectory(engine), field_map=MapCache(map_path(settings.home)),
        store_version=store_version,
        response_cache=ResponseCache(ttl_seconds=cache_seconds, max_bytes=settings.page_cache_bytes,
                                     max_entries=settings.page_cache_entries, version=store_version.current,
                                     shared=shared),
        signing_key=signing_key, password_hasher=hasher, dummy_hash=passwords.DummyHash(hasher),
        csrf_serializer=security.csrf_signer(signing_key), auth_limits=AuthLimits(), clock=utc_now,
        comment_markdown=comment_renderer(),
        submission_queue=submission_queue(app, settings), submission_wait=SUBMISSION_WAIT,
    )

    def similar_papers(_engine: sa.Engine, paper: Paper, k: int) -> list[Paper]:
        return st.similar.similar_papers([paper], k=k)

    st.similar_papers = similar_papers  # the paper page's "Similar papers" block
    if maintain_index:
        from paperscope.index.maintainer import IndexMaintainer

        st.index_maintainer = IndexMaintainer(engine, settings, embed=settings.embed_in_background,
                                              poll_seconds=settings.index_poll_seconds)
    if settings.digest_scheduler:
        st.digest_scheduler = DigestScheduler(engine, settings, trending=trending_fetch(engine),
                                              for_you=digest_picks)
    return st


def create_app(settings: Settings, *, cache_seconds: float | None = None,
               route_threads: int | None = None, maintain_index: bool = False) -> FastAPI:
    """Build the web app for one installation. Its state is one `AppState` (`app_state.py`), never
    module globals.

    Anonymous pages are served from a response cache that drops everything whenever the store's write
    version moves (any committed write, from any process); `cache_seconds` additionally bounds how
    long pages that depend on more than the store (search, trending, Atom) are kept. 0 turns the
    cache off. It and `route_threads` default to the settings (`web_cache_seconds`, `web_threads`).

    `maintain_index` runs the background index thread (`index/maintainer.py`): catch-up from the store,
    and embedding when `settings.embed_in_background`. `paperscope serve` turns it on.
    """
    settings.ensure_home()
    app = FastAPI(
        title="paperscope",
        description="Self-hosted research-paper discovery. HTML pages have JSON twins (`?format=json`); "
                    "`/api/daily_papers`, `/api/papers/...` follow the Hugging Face API.",
        version=__version__,
        # /docs is served from vendored Swagger UI files (routes/meta.py): no CDN, works offline.
        docs_url=None,
        redoc_url=None,
        # paperscope exports no OpenTelemetry data. Left on, FastAPI's native telemetry looks up the
        # global tracer, meter and logger providers on every request, which cost as much as serving
        # a cached page (~40 % of it, profiled).
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
        lifespan=_lifespan,
    )
    st = _app_state(app, settings, settings.web_cache_seconds if cache_seconds is None else cache_seconds,
                    route_threads or settings.web_threads, maintain_index)
    keep_app_state(app, st)
    # Template helpers: who is signed in and the CSRF token, upvote state, library marks on each card.
    security.install_security(st.templates)
    install_community(st.templates)
    install_library(st.templates)
    app.add_middleware(ResponseCacheMiddleware, cache=st.response_cache, prefixes=CACHED_PREFIXES)
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
    for router in routers(st):  # in priority order: see routers.py
        app.include_router(router)
    install_openapi(app)  # the document says what the routes really answer (errors, HTML, Atom)
    install_access(app)  # PAPERSCOPE_ACCESS=members: last added, runs first
    return app
