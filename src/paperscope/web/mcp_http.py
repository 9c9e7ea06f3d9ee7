"""`/mcp`: the MCP server (`mcp_tools.py`) on the web app, over streamable HTTP.

Stateless JSON responses: every POST carries one JSON-RPC message and gets its answer back in the body,
so any worker process can serve any request (no session to keep) and a call costs one round trip.
The caller's `Authorization: Bearer` header (the API tokens of `/account`) reaches the tools that need
an account; the others answer anyone, like the pages do.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

from fastapi import APIRouter, FastAPI
from mcp.server.transport_security import TransportSecuritySettings
from starlette.routing import Route

from paperscope.web.mcp_tools import McpBackend, build_mcp

MCP_PATH = "/mcp"


def _transport_security(base_url: str) -> TransportSecuritySettings:
    """DNS-rebinding protection: only Host / Origin values of this installation (and localhost)."""
    parts = urlsplit(base_url)
    hosts = ["127.0.0.1:*", "localhost:*", "[::1]:*", "127.0.0.1", "localhost"]
    origins = ["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"]
    if parts.netloc:
        hosts += [parts.netloc, f"{parts.hostname}:*"]
        origins += [f"{parts.scheme}://{parts.netloc}"]
    return TransportSecuritySettings(enable_dns_rebinding_protection=True, allowed_hosts=hosts,
                                     allowed_origins=origins)


def install_mcp(app: FastAPI) -> None:
    """Serve the MCP tools at `/mcp` over the app's store, search engine and services."""
    st = app.state
    backend = McpBackend(engine=st.engine, settings=st.settings, search=st.search_engine,
                         similar=getattr(st, "similar", None), foryou=getattr(st, "foryou", None),
                         clock=lambda: app.state.clock())
    server = build_mcp(backend)
    mcp_app = server.streamable_http_app(streamable_http_path=MCP_PATH, stateless_http=True,
                                         json_response=True,
                                         transport_security=_transport_security(str(st.settings.base_url)))
    # The MCP app's one route joins the app's own (its middleware list is empty without MCP's OAuth),
    # so `/mcp` shares the app's error handling and no catch-all route sits in front of it.
    for route in mcp_app.routes:
        if isinstance(route, Route):
            app.router.routes.insert(0, route)
    st.mcp_server = server

    @contextlib.asynccontextmanager
    async def run_sessions(_app: FastAPI) -> AsyncIterator[None]:
        async with server.session_manager.run():
            yield

    app.include_router(APIRouter(lifespan=run_sessions))
