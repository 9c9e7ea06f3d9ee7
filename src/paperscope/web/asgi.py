"""ASGI entry point for process managers and multi-worker uvicorn: settings come from PAPERSCOPE_* env."""

from __future__ import annotations

import os

from fastapi import FastAPI

from paperscope.settings import Settings
from paperscope.web.app import ROUTE_THREADS, create_app

CACHE_ENV = "PAPERSCOPE_WEB_CACHE_SECONDS"
THREADS_ENV = "PAPERSCOPE_WEB_THREADS"


def app_from_env() -> FastAPI:
    """Factory for `uvicorn --factory paperscope.web.asgi:app_from_env`: settings from the environment."""
    return create_app(Settings(), cache_seconds=float(os.environ.get(CACHE_ENV, "30")),
                      route_threads=int(os.environ.get(THREADS_ENV, ROUTE_THREADS)), maintain_index=True)
