"""The OpenAPI document, made true to what the app answers.

FastAPI documents every route as "200 application/json" plus its own 422 body. paperscope answers
differently, and clients (and schemathesis, which the test suite runs over the whole document) rely on
the document, so it is corrected once, when first asked for:

- errors: every 4xx (and the 422 of a request that fails validation) is `Error` —
  `{"error", "status", "detail"?}` — as JSON for API paths and `?format=json`, else an HTML page;
- pages (paths outside `/api/` and `/feeds/`) answer HTML, or JSON with `?format=json`; forms and
  pages that need a sign-in may answer with a 303 redirect;
- feeds answer Atom.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

ERROR = {
    "type": "object",
    "required": ["error", "status"],
    "properties": {
        "error": {"type": "string", "description": "what went wrong, in words a person can act on"},
        "status": {"type": "integer", "description": "the HTTP status, repeated"},
        "detail": {"description": "for 422: one {where, problem} per invalid field"},
    },
}
_HTML = {"schema": {"type": "string"}}
_ERROR_JSON = {"schema": {"$ref": "#/components/schemas/Error"}}


def _is_page(path: str) -> bool:
    return not path.startswith(("/api/", "/feeds/"))


def _correct(path: str, method: str, operation: dict[str, Any]) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    page, atom = _is_page(path), path.startswith("/feeds/")
    for code, response in responses.items():
        if not code.startswith("2"):
            continue
        if atom:
            response["content"] = {"application/atom+xml": _HTML}
        elif page:
            json_part = response.get("content", {}).get("application/json", {"schema": {}})
            response["content"] = {"text/html": _HTML, "application/json": json_part}
    error_content: dict[str, Any] = {"application/json": _ERROR_JSON}
    if not path.startswith("/api/"):
        error_content["text/html"] = _HTML
    responses["422"] = {"description": "The request does not fit this document (fields named in `detail`)",
                        "content": error_content}
    responses.setdefault("4XX", {"description": "Refused: bad input (400), sign-in needed (401), not allowed "
                                                "or missing CSRF token (403), not found or hidden (404), "
                                                "conflict (409), too large (413), too many requests (429, "
                                                "with Retry-After)", "content": error_content})
    if page:
        responses.setdefault("303", {"description": "Redirect: where a form leads, or to the sign-in page"})


def _empty_means_unset(operation: dict[str, Any]) -> None:
    """An optional query parameter sent empty is read as not sent (web/empty_params.py: HTML forms send
    every field): the document says so, so an empty value is valid for it."""
    for param in operation.get("parameters", []):
        if param.get("in") == "query" and not param.get("required") and "schema" in param:
            param["schema"] = {"anyOf": [param["schema"], {"type": "string", "maxLength": 0}]}


def install_openapi(app: FastAPI) -> None:
    """Serve the corrected document at /openapi.json (built once, on first request)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, description=app.description,
                             routes=app.routes)
        schemas = schema.setdefault("components", {}).setdefault("schemas", {})
        schemas["Error"] = ERROR
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
        for path, item in schema.get("paths", {}).items():
            for method, operation in item.items():
                _correct(path, method, operation)
                _empty_means_unset(operation)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
