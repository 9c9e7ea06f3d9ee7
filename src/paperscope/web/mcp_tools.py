"""paperscope as a Model Context Protocol server: the tools an agent calls (search, paper, similar, daily,
trending, and with an API token for_you, library_list, library_add).

One `MCPServer` serves both transports: `/mcp` in the web app (streamable HTTP, `web/mcp_http.py`) and
`paperscope mcp` (stdio). The tools call the same stages the pages and the JSON API call and answer
with the same paper dictionaries (`serialize.paper_json`), plus an absolute `link`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

import orjson
import sqlalchemy as sa
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult, TextContent
from pydantic import Field

from paperscope import __version__
from paperscope.feed.daily import daily_listing
from paperscope.feed.foryou import ForYou
from paperscope.feed.periods import parse_period
from paperscope.feed.similar import SimilarPapers
from paperscope.feed.trending import trending_papers
from paperscope.model import Paper, parse_arxiv_id
from paperscope.search.engine import SearchEngine
from paperscope.search.types import Mode, SearchFilters
from paperscope.settings import Settings
from paperscope.store import get_paper, get_papers_by_rowid
from paperscope.store import library as library_store
from paperscope.store import users as user_store
from paperscope.store.citations import cited_by_counts
from paperscope.store.users import User
from paperscope.web.serialize import paper_json

INSTRUCTIONS = (
    "paperscope is a library of research papers (mostly arXiv). Find papers with `search`, read one "
    "with `paper`, explore with `similar`, `daily` and `trending`. With an API token (Authorization: "
    "Bearer ..., created on the /account page) `for_you` ranks recent papers for that reader and "
    "`library_list` / `library_add` read and extend their library."
)
MAX_LIMIT = 50
CITATION_DEPTH = 200  # sort="citations" orders this many best matches by cited-by count
Limit = Annotated[int, Field(ge=1, le=MAX_LIMIT, description="How many papers (1-50).")]


@dataclass
class McpBackend:
    """What the tools need: the store, the search stage and what is built on it, and who is asking."""

    engine: sa.Engine
    settings: Settings
    search: SearchEngine
    similar: SimilarPapers
    foryou: ForYou
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    token: str | None = None  # stdio: the token given to `paperscope mcp`; HTTP: each request's header

    def link(self, paper_id: str) -> str:
        """The paper page's absolute address (from the configured base URL, never the request)."""
        return f"{str(self.settings.base_url).rstrip('/')}/papers/{paper_id}"


def _bearer(ctx: Context | None) -> str | None:
    try:
        headers = ctx.headers if ctx is not None else None
    except ValueError:  # no request (a tool called in-process)
        return None
    if not headers:
        return None
    scheme, _, value = (headers.get("authorization") or "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def _user(backend: McpBackend, ctx: Context | None) -> User:
    token = _bearer(ctx) or backend.token
    if token is None:
        raise ToolError("this tool needs an API token: send 'Authorization: Bearer <token>' "
                        "(create one on the /account page)")
    user = user_store.token_user(backend.engine, token)
    if user is None:
        raise ToolError("invalid or revoked API token")
    return user


def _paper(backend: McpBackend, paper_id: str) -> Paper:
    key = paper_id.strip()
    try:
        key = parse_arxiv_id(key)[0]
    except ValueError:
        if not key.startswith(("doi:", "t:")):
            raise ToolError(f"not a paper id: {paper_id!r} (give an arXiv id such as 2501.00001)") from None
    paper = get_paper(backend.engine, key)
    if paper is None:
        raise ToolError(f"no paper {key!r} in this library")
    return paper


def _card(backend: McpBackend, paper: Paper, *, abstract: bool = True) -> dict[str, Any]:
    return {**paper_json(paper, with_abstract=abstract), "link": backend.link(paper.paper_id)}


def _date(value: str | None, name: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ToolError(f"{name} must be a date (YYYY-MM-DD), not {value!r}") from None


def _by_rowid(backend: McpBackend, rowids: list[int]) -> dict[int, Paper]:
    return {p.rowid: p for p in get_papers_by_rowid(backend.engine, rowids) if p.rowid is not None}


def tool_search(backend: McpBackend, query: str, mode: Mode, limit: int, category: str | None,
                date_from: str | None, date_to: str | None, sort: str = "relevance") -> dict[str, Any]:
    """The `search` tool's answer: ranked papers with links, scores and cited-by counts."""
    if not any(ch.isalnum() for ch in query):
        raise ToolError("nothing to search for: use words")
    engine = backend.search
    filters = SearchFilters(categories=tuple(category.split()) if category else (),
                            date_from=_date(date_from, "date_from"), date_to=_date(date_to, "date_to"))
    result = engine.search(query, mode=mode, k=CITATION_DEPTH if sort == "citations" else limit,
                           filters=filters)
    hits = result.hits
    cited = cited_by_counts(backend.engine, [h.rowid for h in hits])
    if sort == "citations":  # the best matches, most cited first (stable: relevance breaks ties)
        hits = sorted(hits, key=lambda h: -cited.get(h.rowid, -1))[:limit]
    found = _by_rowid(backend, [h.rowid for h in hits])
    return {"query": query, "mode": result.mode, "total": result.total, "sort": sort,
            "notes": list(getattr(result, "notes", []) or []),
            "results": [{**_card(backend, found[h.rowid]), "score": h.score,
                         "cited_by_count": cited.get(h.rowid)} for h in hits if h.rowid in found]}


def _answer(data: dict[str, Any]) -> CallToolResult:
    """Compact JSON text plus the same data as structured content, built once: the SDK's own conversion
    of a returned dict indents the text and validates and re-dumps the whole result (~1 ms a search)."""
    return CallToolResult(content=[TextContent(type="text", text=orjson.dumps(data).decode())],
                          structured_content=data)


def build_mcp(backend: McpBackend) -> MCPServer:
    """The paperscope MCP server over one backend (a web app's state, or the CLI's open store)."""
    server: MCPServer = MCPServer(name="paperscope", title="paperscope", version=__version__,
                                  instructions=INSTRUCTIONS, website_url=str(backend.settings.base_url),
                                  log_level="WARNING")

    @server.tool(description="Search papers: hybrid (BM25 + dense + late interaction) by default.")
    def search(query: Annotated[str, Field(min_length=1, max_length=500, description="What to look for.")],
               mode: Literal["hybrid", "bm25", "dense", "late"] = "hybrid", limit: Limit = 10,
               category: Annotated[str | None, Field(
                   max_length=200, description="arXiv categories, e.g. 'cs.CL cs.IR'.")] = None,
               date_from: Annotated[str | None, Field(description="Listed on or after (YYYY-MM-DD).")] = None,
               date_to: Annotated[str | None, Field(description="Listed on or before (YYYY-MM-DD).")] = None,
               sort: Annotated[Literal["relevance", "citations"], Field(
                   description="citations: the best matches, most cited first (OpenAlex counts).")]
               = "relevance") -> CallToolResult:
        return _answer(tool_search(backend, query, mode, limit, category, date_from, date_to, sort))

    @server.tool(description="One paper: title, authors, abstract, categories, dates, links, upvotes.")
    def paper(paper_id: Annotated[str, Field(max_length=200, description="arXiv id (2501.00001) or URL.")],
              ) -> CallToolResult:
        return _answer(_card(backend, _paper(backend, paper_id)))

    @server.tool(description="Papers similar to one or more papers (late interaction + lexical).")
    def similar(paper_ids: Annotated[list[str], Field(min_length=1, max_length=20,
                                                      description="arXiv ids of the seed papers.")],
                limit: Limit = 10, diverse: bool = False) -> CallToolResult:
        service = backend.similar
        seeds = [_paper(backend, i) for i in dict.fromkeys(paper_ids)]
        result = service.similar(seeds, k=limit, diverse=diverse)
        found = _by_rowid(backend, [h.rowid for h in result.hits])
        return _answer({"seeds": result.seeds, "notes": result.notes,
                        "papers": [{**_card(backend, found[h.rowid], abstract=False), "score": h.score}
                                   for h in result.hits if h.rowid in found]})

    @server.tool(description="The daily feed: papers listed on a day (default the latest), week or month.")
    def daily(day: Annotated[str | None, Field(description="YYYY-MM-DD")] = None,
              week: Annotated[str | None, Field(description="ISO week, e.g. 2025-W12")] = None,
              month: Annotated[str | None, Field(description="YYYY-MM")] = None,
              sort: Literal["upvotes", "trending", "newest"] = "upvotes",
              category: Annotated[str | None, Field(max_length=64)] = None, limit: Limit = 20,
              ) -> CallToolResult:
        try:
            period = parse_period(day, week, month)
        except ValueError as exc:
            raise ToolError(str(exc)) from None
        listing = daily_listing(backend.engine, period, sort=sort, category=category, limit=limit)
        shown = listing.period
        period_json = {"kind": shown.kind, "key": shown.key, "label": shown.label} if shown else None
        return _answer({"period": period_json, "total": listing.total, "sort": sort, "category": category,
                        "papers": [_card(backend, i.paper, abstract=False) for i in listing.items]})

    @server.tool(description="Trending papers of the last week (time-decayed upvotes).")
    def trending(category: Annotated[str | None, Field(max_length=64)] = None, limit: Limit = 20,
                 ) -> CallToolResult:
        items, total, as_of = trending_papers(backend.engine, category=category, limit=limit)
        return _answer({"as_of": as_of.isoformat(), "total": total, "category": category,
                        "papers": [{**_card(backend, i.paper, abstract=False),
                                    "trending_score": round(i.score, 6)} for i in items]})

    @server.tool(description="Recent papers ranked for the token's owner from their library and 👍/👎 "
                             "(needs an API token).")
    def for_you(ctx: Context, limit: Limit = 10,
                days: Annotated[int, Field(ge=1, le=90, description="How far back.")] = 7) -> CallToolResult:
        user = _user(backend, ctx)
        service = backend.foryou
        result = service.feed(user.id, k=limit, days=days)
        found = _by_rowid(backend, [i.rowid for i in result.items])
        return _answer({"user": user.username, "total": result.total, "notes": result.notes,
                        "papers": [{**_card(backend, found[i.rowid]), "score": i.score,
                                    "reasons": [asdict(r) for r in i.reasons]}
                                   for i in result.items if i.rowid in found]})

    @server.tool(description="The papers in the token owner's library, newest first (needs an API token).")
    def library_list(ctx: Context, tag: Annotated[str | None, Field(max_length=40)] = None,
                     ) -> CallToolResult:
        user = _user(backend, ctx)
        items = library_store.list_library(backend.engine, user.id, tag=tag)
        found = _by_rowid(backend, [i.rowid for i in items])
        return _answer({"user": user.username, "tag": tag,
                        "papers": [{**_card(backend, found[i.rowid], abstract=False), "tags": list(i.tags),
                                    "added_at": i.added_at.isoformat() if i.added_at else None}
                                   for i in items if i.rowid in found]})

    @server.tool(description="Save a paper to the token owner's library, with optional tags "
                             "(needs an API token).")
    def library_add(ctx: Context, paper_id: Annotated[str, Field(max_length=200)],
                    tags: Annotated[list[str], Field(max_length=library_store.MAX_TAGS)] = []  # noqa: B006
                    ) -> CallToolResult:
        user = _user(backend, ctx)
        found = _paper(backend, paper_id)
        assert found.rowid is not None
        added = library_store.save_paper(backend.engine, user.id, found.rowid, tags, source="mcp",
                                         now=backend.clock())
        item = next(i for i in library_store.list_library(backend.engine, user.id) if i.rowid == found.rowid)
        return _answer({"id": found.paper_id, "added": added, "tags": list(item.tags),
                        "link": backend.link(found.paper_id)})

    return server
