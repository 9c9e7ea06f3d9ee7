"""ASGI entry point for process managers and multi-worker uvicorn: settings come from PAPERSCOPE_* env."""

from __future__ import annotations

import os

from fastapi import FastAPI

from paperscope.settings import Settings
from paperscope.web.app import create_app


def app_from_env() -> FastAPI:
    """Factory for `uvicorn --factory paperscope.web.asgi:app_from_env`: settings from the environment."""
    return create_app(Settings(), cache_seconds=float(os.environ.get("PAPERSCOPE_WEB_CACHE_SECONDS", "30")))
