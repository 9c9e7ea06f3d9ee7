"""Shared by every route: the template environment and HTML-or-JSON responses."""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jinja2
import orjson
from fastapi import Request
from fastapi.responses import Response
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape

from paperscope.model import http_url
from paperscope.web.app_state import state
from paperscope.web.category_names import category_name
from paperscope.web.icons import icon

TEMPLATES_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"


class PageEnvironment(jinja2.Environment):
    """Jinja2 with the lookups our templates make cheap.

    Pages render from plain dictionaries (the JSON twins), written `p.title` in templates. Jinja tries
    an attribute first and falls back to the key, paying for an AttributeError on every field of every
    card (~700 per feed page). Here a dict's key comes first — unless the name is a dict method, so
    `params.items()` stays the method even when a query string carries `items=`.
    """

    def getattr(self, obj: Any, attribute: str) -> Any:
        if type(obj) is dict and attribute not in _DICT_METHODS:
            try:
                return obj[attribute]
            except KeyError:
                pass
        return super().getattr(obj, attribute)


_DICT_METHODS = frozenset(dir(dict))


def make_templates() -> Jinja2Templates:
    """The page templates. Templates ship with the package and never change under a running server,
    so Jinja does not stat every template file (and every include) on each render to look for edits."""
    env = PageEnvironment(loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
                          autoescape=jinja2.select_autoescape(), auto_reload=False)
    templates = Jinja2Templates(env=env)
    install_filters(templates)
    return templates


class JsonResponse(Response):
    """JSON via orjson: dates, datetimes and dataclasses serialise natively, and fast."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)


def wants_json(request: Request) -> bool:
    """Datasette-style twin: `?format=json` (or an Accept header that asks only for JSON)."""
    fmt = request.query_params.get("format")
    if fmt is not None:
        return fmt == "json"
    accept = request.headers.get("accept", "")
    return accept.startswith("application/json")


def render(request: Request, template: str, context: dict[str, Any], status_code: int = 200) -> Response:
    """Render a Jinja2 page (autoescaped) with the shared context."""
    templates = state(request).templates
    params = {k: v for k, v in request.query_params.multi_items() if k != "format"}
    base = {"params": params, "path": request.url.path}
    return templates.TemplateResponse(request, template, {**base, **context}, status_code=status_code)


def page_or_json(request: Request, template: str, data: dict[str, Any], context: dict[str, Any]) -> Response:
    """The HTML page, or its JSON twin built from the same `data`."""
    if wants_json(request):
        return JsonResponse(data)
    return render(request, template, {**context, "data": data})


_MATH = re.compile(r"\$([^$]{1,300})\$")


def mathspans(text: str | None) -> Markup:
    """Escape text and wrap `$...$` TeX in <span class="math"> so it reads as a formula, not as noise."""
    raw = text or ""
    if "$" not in raw:  # most titles and many abstracts: one escape, no scan
        return Markup(escape(raw))
    out: list[str] = []
    last = 0
    for m in _MATH.finditer(raw):
        out.append(str(escape(raw[last:m.start()])))
        out.append(f'<span class="math">{escape(m.group(1))}</span>')
        last = m.end()
    out.append(str(escape(raw[last:])))
    return Markup("".join(out))


def highlight(text: str | None, terms: list[str] | tuple[str, ...] | None) -> Markup:
    """Escape text and mark words that start with a matched query term (so `transformer` marks
    `Transformers`). The text is escaped first and marks are added to the escaped text, so no user or
    paper text is ever markup; a term never matches inside an entity (`&amp;`, `&#39;`)."""
    escaped = str(escape(text or ""))
    words = tuple(sorted({t for t in (terms or []) if t and len(t) > 1}, key=len, reverse=True))
    if not words:
        return Markup(escaped)
    return Markup(_highlighter(words).sub(r"<mark>\g<0></mark>", escaped))


@functools.lru_cache(maxsize=1024)
def _highlighter(words: tuple[str, ...]) -> re.Pattern[str]:
    # Escaping leaves word characters alone and turns < > & " ' into entities that start with `&`
    # or `&#`; the look-behinds keep their names (amp, lt, 39...) from counting as words.
    alternatives = "|".join(re.escape(str(escape(w))) for w in words)
    return re.compile(r"\b(?<!&)(?<!&#)(?:" + alternatives + r")\w*", re.IGNORECASE)


def snippet(text: str | None, terms: list[str] | tuple[str, ...] | None, width: int = 320) -> str:
    """About `width` characters of text around the first matched term (the start when none match)."""
    raw = text or ""
    if len(raw) <= width:
        return raw
    start = 0
    lowered = raw.lower()
    hits = [lowered.find(t.lower()) for t in (terms or []) if t]
    hits = [h for h in hits if h >= 0]
    if hits:
        start = max(min(hits) - width // 4, 0)
        while start > 0 and not raw[start - 1].isspace():
            start -= 1
    end = min(start + width, len(raw))
    while end < len(raw) and not raw[end].isspace():
        end += 1
    return ("… " if start else "") + raw[start:end] + (" …" if end < len(raw) else "")


def here(request: Request) -> str:
    """The address (path and query) of the page the person is looking at, for forms to come back to.

    For an htmx request (a fragment such as a paper's similar papers, or a form posted in place) that
    is the page that made it (`HX-Current-URL`), not the fragment's own address.
    """
    current = request.headers.get("hx-current-url") if request.headers.get("hx-request") else None
    if current:
        parts = urlsplit(current)
        return (parts.path or "/") + ("?" + parts.query if parts.query else "")
    query = request.url.query
    return request.url.path + ("?" + query if query else "")


def local_path(target: str | None, default: str) -> str:
    """`target` when it is a path on this site, else `default` (never an open redirect elsewhere)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return default


def is_htmx(request: Request) -> bool:
    """Whether htmx sent the request (it then wants a fragment to swap in, not a redirect)."""
    return request.headers.get("hx-request") == "true"


def query_string(params: dict[str, Any], **changes: Any) -> str:
    """`?a=1&b=2` from the current parameters with some replaced (None drops one)."""
    from urllib.parse import urlencode

    merged = {k: v for k, v in {**params, **changes}.items() if v not in (None, "", [])}
    if str(merged.get("page")) == "1":
        merged.pop("page")
    return "?" + urlencode(merged, doseq=True) if merged else ""


def period_query(params: dict[str, Any], kind: str, key: str) -> str:
    """The query string that shows another period (day/week/month), keeping sort and category."""
    name = "date" if kind == "day" else kind
    changes: dict[str, Any] = {"page": None, "date": None, "week": None, "month": None}
    changes[name] = key
    return query_string(params, **changes)


def install_filters(templates: Jinja2Templates) -> None:
    """Register the filters and helpers the templates use."""
    env = templates.env
    env.filters["mathspans"] = mathspans
    env.filters["highlight"] = highlight
    env.filters["snippet"] = snippet
    # Every href built from source data goes through this: only absolute http(s) URLs, else nothing
    # (papers stored before ingest checked links may still hold a `javascript:` one).
    env.filters["http_url"] = http_url
    env.globals["query_string"] = query_string
    env.globals["period_query"] = period_query
    env.globals["here"] = here
    env.globals["icon"] = icon
    env.filters["category_name"] = category_name
