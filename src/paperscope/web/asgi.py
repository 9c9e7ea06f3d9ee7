"""ASGI entry point for process managers and multi-worker uvicorn: settings come from PAPERSCOPE_* env."""

from __future__ import annotations

import os
import sys

from fastapi import FastAPI

from paperscope.settings import Settings
from paperscope.web.app import ROUTE_THREADS, create_app

CACHE_ENV = "PAPERSCOPE_WEB_CACHE_SECONDS"
THREADS_ENV = "PAPERSCOPE_WEB_THREADS"
SWITCH_ENV = "PAPERSCOPE_WEB_SWITCH_INTERVAL"
# CPython hands the GIL between threads every 5 ms by default; a cached page takes well under 1 ms, so
# the event loop serving it should not wait a whole 5 ms slice behind a thread rendering a cache miss.
SWITCH_INTERVAL = 0.001


def tune_process() -> None:
    """Process-wide settings for a server process (called once per worker, never by tests)."""
    sys.setswitchinterval(float(os.environ.get(SWITCH_ENV, SWITCH_INTERVAL)))


def app_from_env() -> FastAPI:
    """Factory for `uvicorn --factory paperscope.web.asgi:app_from_env`: settings from the environment."""
    tune_process()
    return create_app(Settings(), cache_seconds=float(os.environ.get(CACHE_ENV, "30")),
                      route_threads=int(os.environ.get(THREADS_ENV, ROUTE_THREADS)))
