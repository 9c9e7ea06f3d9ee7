"""`paperscope serve`: run the web app with uvicorn."""

from __future__ import annotations

import os
from typing import Annotated, Any

import typer

from paperscope.cli.common import console, settings_from
from paperscope.settings import Settings

HEALTHCHECK_SECONDS = 60


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """How uvicorn treats proxy headers: X-Forwarded-For is believed only from PAPERSCOPE_TRUSTED_PROXIES.

    uvicorn's own default trusts 127.0.0.1, so behind no proxy at all anyone on the machine (or any
    local service that relays requests) could pick the client address the per-IP limits count.
    """
    trusted = settings.trusted_proxies.strip()
    return {"proxy_headers": bool(trusted), "forwarded_allow_ips": trusted or None}


def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(
        help="Worker processes, each with its own database pool and page cache (0 = one per CPU core: "
             "Python runs one core per process).")] = 0,
    threads: Annotated[int, typer.Option(
        help="Threads per worker for routes that query the store (0 = PAPERSCOPE_WEB_THREADS, 40).")] = 0,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
    cache_seconds: Annotated[float | None, typer.Option(
        help="Anonymous pages are cached until the store changes; pages that also depend on the search "
             "indexes or the clock at most this long (0 = no cache at all; default "
             "PAPERSCOPE_WEB_CACHE_SECONDS, 30).")] = None,
    embed: Annotated[bool, typer.Option(
        help="Embed papers that have no stored embedding in the background, newest first (one embedder "
             "per store; --no-embed leaves it to `paperscope index` or another server).")] = True,
) -> None:
    """Serve the daily feed, search, paper pages and the JSON API over HTTP."""
    import uvicorn

    settings = settings_from(ctx)
    overrides: dict[str, object] = {}
    if not embed:
        overrides["embed_in_background"] = False
    if cache_seconds is not None:
        overrides["web_cache_seconds"] = cache_seconds
    if threads > 0:
        overrides["web_threads"] = threads
    settings = settings.model_copy(update=overrides)
    workers = workers if workers > 0 else _cores()
    console.print(f"paperscope on http://{host}:{port}  (database: {settings.db_url.split('@')[-1]}, "
                  f"{workers} worker{'s' if workers != 1 else ''})")
    if workers > 1:
        # Migrate the store and create the signing key once, here, before the workers start: workers
        # doing it at once raced ("table papers already exists", a lost secret_key rename) and crashed.
        from paperscope.store import open_database

        open_database(settings.db_url).dispose()
        settings.signing_key()
        # Worker processes rebuild the app from the environment, so pass the CLI overrides through it.
        os.environ["PAPERSCOPE_HOME"] = str(settings.home)
        os.environ["PAPERSCOPE_DATABASE_URL"] = settings.database_url
        os.environ["PAPERSCOPE_WEB_CACHE_SECONDS"] = str(settings.web_cache_seconds)
        os.environ["PAPERSCOPE_WEB_THREADS"] = str(settings.web_threads)
        os.environ["PAPERSCOPE_EMBED_IN_BACKGROUND"] = "1" if settings.embed_in_background else "0"
        # uvicorn kills a worker that is not ready, or does not answer its liveness ping, within 5 s.
        # Loading the app takes longer than that on a busy 2-core machine (workers were killed at
        # start-up in a loop, or mid-benchmark, losing their caches), so allow a minute.
        uvicorn.run("paperscope.web.asgi:app_from_env", factory=True, host=host, port=port,
                    workers=workers, log_level=log_level, timeout_worker_healthcheck=HEALTHCHECK_SECONDS,
                    **uvicorn_options(settings))
        return
    from paperscope.web.app import create_app

    app = create_app(settings, maintain_index=True)
    uvicorn.run(app, host=host, port=port, log_level=log_level, **uvicorn_options(settings))


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
