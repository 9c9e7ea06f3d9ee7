"""Store statistics and a health check."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response

from paperscope.store import store_stats
from paperscope.web.rendering import JsonResponse, state

router = APIRouter(tags=["api"])


@router.get("/api/stats", summary="Store statistics")
def stats(request: Request) -> Response:
    """Paper counts by source, primary category and listing month."""
    return JsonResponse(store_stats(state(request).engine).__dict__)


@router.get("/healthz", summary="Health check")
def health(request: Request) -> Response:
    """200 when the app is up and the database answers."""
    from paperscope.store import latest_listed

    latest = latest_listed(state(request).engine)
    return JsonResponse({"ok": True, "latest_listed": latest.isoformat() if latest else None})


@router.get("/docs", include_in_schema=False)
def api_docs() -> HTMLResponse:
    """Interactive API documentation (Swagger UI, vendored under /static/swagger)."""
    return get_swagger_ui_html(openapi_url="/openapi.json", title="paperscope API",
                               swagger_js_url="/static/swagger/swagger-ui-bundle.js",
                               swagger_css_url="/static/swagger/swagger-ui.css",
                               swagger_favicon_url="/static/favicon.svg")
