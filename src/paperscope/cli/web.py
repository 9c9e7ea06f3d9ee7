"""`paperscope serve`: run the web app with uvicorn."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from paperscope.cli.common import console, settings_from

CACHE_ENV = "PAPERSCOPE_WEB_CACHE_SECONDS"


def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes (each opens its own database pool).")] = 1,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
    cache_seconds: Annotated[float, typer.Option(
        help="How long anonymous pages may be served from the in-process cache (0 = off).")] = 30.0,
) -> None:
    """Serve the daily feed, search, paper pages and the JSON API over HTTP."""
    import uvicorn

    settings = settings_from(ctx)
    console.print(f"paperscope on http://{host}:{port}  (database: {settings.db_url.split('@')[-1]})")
    if workers > 1:
        # Worker processes rebuild the app from the environment, so pass the CLI overrides through it.
        os.environ["PAPERSCOPE_HOME"] = str(settings.home)
        os.environ["PAPERSCOPE_DATABASE_URL"] = settings.database_url
        os.environ[CACHE_ENV] = str(cache_seconds)
        uvicorn.run("paperscope.web.asgi:app_from_env", factory=True, host=host, port=port,
                    workers=workers, log_level=log_level)
        return
    from paperscope.web.app import create_app

    uvicorn.run(create_app(settings, cache_seconds=cache_seconds), host=host, port=port, log_level=log_level)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
