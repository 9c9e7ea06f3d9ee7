"""ASGI entry point for process managers and multi-worker uvicorn: settings come from PAPERSCOPE_* env."""
# ruff: noqa: E402  (imports follow the process-wide setup below on purpose)

from __future__ import annotations

from paperscope.runtime import configure_process

configure_process()  # before the app (and with it numpy) is imported

from fastapi import FastAPI

from paperscope.settings import Settings
from paperscope.web.app import create_app


def app_from_env() -> FastAPI:
    """Factory for `uvicorn --factory paperscope.web.asgi:app_from_env`: settings from the environment."""
    return create_app(Settings(), maintain_index=True)
