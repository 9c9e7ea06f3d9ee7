"""`/mcp`: the MCP server (`mcp_tools.py`) on the web app, over streamable HTTP.

Stateless JSON responses: every POST carries one JSON-RPC message and gets its answer back in the body,
so any worker process can serve any request (no session to keep) and a call costs one round trip.
The caller's `Authorization: Bearer` header (the API tokens of `/account`) reaches the tools that need
an account; the others answer anyone, like the pages do.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, FastAPI
from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from paperscope.web.app_state import AppState
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


class McpEndpoint:
    """The `/mcp` route's ASGI app. The SDK's session manager can run only once, so every run of the
    app's lifespan builds a fresh one (`start`) and this hands requests to the current one."""

    def __init__(self, server: MCPServer, security: TransportSecuritySettings) -> None:
        self.server = server
        self.security = security
        self.current: Any = None

    def start(self) -> Any:
        """A new session manager (and its ASGI handler); returns the manager to run."""
        sdk_app = self.server.streamable_http_app(streamable_http_path=MCP_PATH, stateless_http=True,
                                                  json_response=True, transport_security=self.security)
        route = next(r for r in sdk_app.routes if isinstance(r, Route) and r.path == MCP_PATH)
        self.current = route.app
        return self.server.session_manager

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.current is None:
            response = JSONResponse({"error": "the MCP endpoint is starting", "status": 503}, status_code=503)
            await response(scope, receive, send)
            return
        await self.current(scope, receive, send)


def mcp_router(st: AppState) -> APIRouter:
    """`/mcp`: the MCP tools over the app's store, search engine and services, and the lifespan that
    runs the SDK's session manager."""
    backend = McpBackend(engine=st.engine, settings=st.settings, search=st.search_engine,
                         similar=st.similar, foryou=st.foryou,
                         clock=lambda: st.clock())  # looked up per call: tests install their own clock
    endpoint = McpEndpoint(build_mcp(backend), _transport_security(str(st.settings.base_url)))

    @contextlib.asynccontextmanager
    async def run_sessions(_app: FastAPI) -> AsyncIterator[None]:
        manager = endpoint.start()
        async with manager.run():
            yield
        endpoint.current = None

    return APIRouter(routes=[Route(MCP_PATH, endpoint=endpoint, methods=["GET", "POST", "DELETE"])],
                     lifespan=run_sessions)
