"""The web app's state: one typed `AppState`, built once by `create_app` and read by routes through
`state(request)` (or `app_state(app)` where there is no request: lifespans, middleware, workers).

Everything a request may use lives here, never in module globals, so two apps in one process (the
tests build many) share nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi import Request

if TYPE_CHECKING:
    import sqlalchemy as sa
    from argon2 import PasswordHasher
    from fastapi.templating import Jinja2Templates
    from itsdangerous import URLSafeTimedSerializer
    from markdown_it import MarkdownIt
    from starlette.applications import Starlette

    from paperscope.feed.field_map import MapCache
    from paperscope.feed.foryou import ForYou
    from paperscope.feed.similar import SimilarPapers
    from paperscope.index.maintainer import IndexMaintainer
    from paperscope.mail.scheduler import DigestScheduler
    from paperscope.model import Paper
    from paperscope.search import SearchEngine
    from paperscope.search.authors import AuthorDirectory
    from paperscope.settings import Settings
    from paperscope.store.version import StoreVersion
    from paperscope.web.auth_limits import AuthLimits, Clock
    from paperscope.web.cache import ResponseCache
    from paperscope.web.passwords import DummyHash
    from paperscope.web.submission_queue import SubmissionQueue

# The paper page's "Similar papers" block: (engine, paper, k) -> papers. A slot rather than a direct
# call so that it can be emptied (the block is then not rendered at all).
SimilarProvider = Callable[["sa.Engine", "Paper", int], "list[Paper]"]


@dataclass
class AppState:
    """One installation's web app: its store, services, caches and account machinery."""

    settings: Settings
    engine: sa.Engine
    templates: Jinja2Templates
    route_threads: int  # sync routes' thread pool, per worker (set in the lifespan)
    # Search and what is built on it: one SearchEngine (indexes and encoder load once, on first use).
    search_engine: SearchEngine
    similar: SimilarPapers
    foryou: ForYou
    author_directory: AuthorDirectory
    field_map: MapCache
    # Caching: the store's write version retires cached pages.
    store_version: StoreVersion
    response_cache: ResponseCache
    # Accounts: the installation key, password hashing, CSRF signing, rate limits, the clock.
    signing_key: str
    password_hasher: PasswordHasher
    dummy_hash: DummyHash  # verified against on unknown names, so they cost the time a real check does
    csrf_serializer: URLSafeTimedSerializer
    auth_limits: AuthLimits
    clock: Clock
    comment_markdown: MarkdownIt
    # Submissions: the arXiv fetch queue, and how long a request waits for it before answering 202.
    submission_queue: SubmissionQueue
    submission_wait: float
    # The paper page's "Similar papers" block (None: not shown); create_app fills it from `similar`.
    similar_papers: SimilarProvider | None = None
    # Background work the lifespan starts and stops (None when not configured).
    index_maintainer: IndexMaintainer | None = None
    digest_scheduler: DigestScheduler | None = None
    # The map's points, gzipped once per built map: (map build stamp, bytes).
    field_map_gzip: tuple[str, bytes] | None = None


def keep_app_state(app: Starlette, st: AppState) -> None:
    """Attach the state to its app (once, in `create_app`)."""
    app.state.paperscope = st


def app_state(app: Any) -> AppState:
    """The app's state (`app` is untyped: that is how Starlette hands it to routes and middleware)."""
    found: AppState = app.state.paperscope
    return found


def state(request: Request) -> AppState:
    """The typed app state for this request."""
    return app_state(request.app)
