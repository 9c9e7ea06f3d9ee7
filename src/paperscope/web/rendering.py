"""Shared by every route: the template environment, HTML-or-JSON responses, request-scoped state."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from fastapi import Request
from fastapi.responses import Response
from fastapi.templating import Jinja2Templates

from paperscope.settings import Settings

TEMPLATES_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"


class JsonResponse(Response):
    """JSON via orjson: dates, datetimes and dataclasses serialise natively, and fast."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)


@dataclass
class AppState:
    """What a request may use: typed access to `app.state`."""

    settings: Settings
    engine: sa.Engine
    templates: Jinja2Templates


def state(request: Request) -> AppState:
    """The typed app state for this request."""
    s = request.app.state
    return AppState(settings=s.settings, engine=s.engine, templates=s.templates)


def wants_json(request: Request) -> bool:
    """Datasette-style twin: `?format=json` (or an Accept header that asks only for JSON)."""
    fmt = request.query_params.get("format")
    if fmt is not None:
        return fmt == "json"
    accept = request.headers.get("accept", "")
    return accept.startswith("application/json")


def render(request: Request, template: str, context: dict[str, Any], status_code: int = 200) -> Response:
    """Render a Jinja2 page (autoescaped) with the shared context."""
    templates: Jinja2Templates = request.app.state.templates
    return templates.TemplateResponse(request, template, context, status_code=status_code)


def page_or_json(request: Request, template: str, data: dict[str, Any], context: dict[str, Any]) -> Response:
    """The HTML page, or its JSON twin built from the same `data`."""
    if wants_json(request):
        return JsonResponse(data)
    return render(request, template, {**context, "data": data})
