"""Store statistics and a health check."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from paperscope.store import store_stats
from paperscope.web.app_state import state
from paperscope.web.rendering import JsonResponse

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


# FastAPI's own Swagger page starts the UI with an inline script, which the Content-Security-Policy
# refuses; this one loads the same settings from /static/swagger/init.js.
_DOCS_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>paperscope API</title>
<link rel="stylesheet" href="/static/swagger/swagger-ui.css">
<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/static/swagger/swagger-ui-bundle.js"></script>
<script src="/static/swagger/init.js"></script>
</body>
</html>
"""


@router.get("/docs", include_in_schema=False)
def api_docs() -> HTMLResponse:
    """Interactive API documentation (Swagger UI, vendored under /static/swagger)."""
    return HTMLResponse(_DOCS_PAGE)
