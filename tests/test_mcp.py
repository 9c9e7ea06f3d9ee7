"""The MCP server, driven by the official MCP Python client: `/mcp` on a live paperscope (streamable HTTP)
and `paperscope mcp` (stdio) — every tool once, and the account tools refused without a valid token."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
import sqlalchemy as sa
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

import paperscope
from paperscope.embed import Encoder
from paperscope.index.build import build_index
from paperscope.settings import Settings
from paperscope.store import get_paper, upsert_papers
from paperscope.store import library as lib
from paperscope.store import users as user_store
from paperscope.web.app import create_app
from paperscope.web.app_state import app_state
from tests.community_support import add_user
from tests.support.topic_corpus import corpus
from tests.support.web_data import live_server

TOOLS = {"search", "paper", "similar", "daily", "trending", "for_you", "library_list", "library_add"}
TOKEN = "ps_mcp-test-token"


@pytest.fixture
def indexed_store(engine: sa.Engine, settings: Settings, encoder: Encoder) -> sa.Engine:  # noqa: F811
    upsert_papers(engine, corpus())
    build_index(engine, settings.index_dir, encoder)
    reader = add_user(engine, "reader")
    user_store.create_api_token(engine, reader.id, "agent", TOKEN)
    galaxies = get_paper(engine, "2504.02001")
    assert galaxies is not None and galaxies.rowid is not None
    lib.save_paper(engine, reader.id, galaxies.rowid, ["astro"])
    return engine


@pytest.fixture
def mcp_url(indexed_store: sa.Engine, settings: Settings) -> Iterator[str]:
    app = create_app(settings, cache_seconds=0)
    with live_server(app) as url:
        yield url + "/mcp"
    app_state(app).engine.dispose()


def payload(result: Any) -> dict[str, Any]:
    assert not result.is_error, result.content
    data: dict[str, Any] = json.loads(result.content[0].text)
    return data


async def _anonymous_session(url: str) -> dict[str, Any]:
    async with Client(url) as client:
        listed = await client.list_tools()
        out: dict[str, Any] = {"tools": {t.name for t in listed.tools}}
        out["search"] = payload(await client.call_tool("search", {"query": "protein folding", "limit": 3}))
        by_citations = {"query": "protein folding", "limit": 3, "sort": "citations"}
        out["by_citations"] = payload(await client.call_tool("search", by_citations))
        out["paper"] = payload(await client.call_tool("paper", {"paper_id": "arXiv:2504.03002v1"}))
        out["similar"] = payload(await client.call_tool("similar", {"paper_ids": ["2504.04001"], "limit": 2}))
        out["daily"] = payload(await client.call_tool("daily", {"day": "2025-04-02", "sort": "newest"}))
        out["trending"] = payload(await client.call_tool("trending", {"limit": 5}))
        account_calls: tuple[tuple[str, dict[str, Any]], ...] = (
            ("for_you", {}), ("library_list", {}), ("library_add", {"paper_id": "2504.01001"}))
        out["refused"] = [await client.call_tool(name, args) for name, args in account_calls]
        out["bad_input"] = [await client.call_tool("paper", {"paper_id": "not an id"}),
                            await client.call_tool("daily", {"week": "2025-W99"}),
                            await client.call_tool("search", {"query": "!!!"})]
    return out


def test_anonymous_tools_answer_and_account_tools_refuse(mcp_url: str, indexed_store: sa.Engine) -> None:
    got = asyncio.run(_anonymous_session(mcp_url))
    assert got["tools"] == TOOLS
    assert [r["id"][:7] for r in got["search"]["results"]][:2] == ["2504.01", "2504.01"]  # protein papers
    assert got["search"]["results"][0]["link"].startswith("http://127.0.0.1:8000/papers/2504.01")
    # No citation data yet: the citation order keeps relevance order.
    assert got["by_citations"]["sort"] == "citations"
    assert [r["id"] for r in got["by_citations"]["results"]] == [r["id"] for r in got["search"]["results"]]
    assert got["paper"]["title"] == "Minimum wage effects on employment"
    assert got["paper"]["abstract"].startswith("Raising the wage floor")
    assert [p["id"][:7] for p in got["similar"]["papers"]] == ["2504.04", "2504.04"]  # robots
    assert {p["id"] for p in got["daily"]["papers"]} == {f"2504.0{t}002" for t in range(1, 5)}
    assert got["daily"]["period"]["key"] == "2025-04-02"
    assert got["trending"]["total"] == 16
    for refused in got["refused"]:
        assert refused.is_error and "API token" in refused.content[0].text
    assert all(r.is_error for r in got["bad_input"])
    assert "not a paper id" in got["bad_input"][0].content[0].text
    # Nothing was saved by the refused call.
    reader = user_store.find_user(indexed_store, "reader")
    assert reader is not None
    assert [i.paper_id for i in lib.list_library(indexed_store, reader.id)] == ["2504.02001"]


async def _token_session(url: str, token: str) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx2.AsyncClient(headers=headers, timeout=60) as http, \
            Client(streamable_http_client(url, http_client=http)) as client:
        out: dict[str, Any] = {"list": await client.call_tool("library_list", {})}
        if out["list"].is_error:
            return out
        out["add"] = payload(await client.call_tool("library_add", {"paper_id": "2504.02003",
                                                                    "tags": ["Galaxies", "astro"]}))
        out["after"] = payload(await client.call_tool("library_list", {"tag": "galaxies"}))
        out["for_you"] = payload(await client.call_tool("for_you", {"limit": 3, "days": 30}))
    return out


def test_token_tools_act_for_the_token_owner(mcp_url: str, indexed_store: sa.Engine) -> None:
    got = asyncio.run(_token_session(mcp_url, TOKEN))
    before = payload(got["list"])
    assert before["user"] == "reader" and [p["id"] for p in before["papers"]] == ["2504.02001"]
    assert got["add"] == {"id": "2504.02003", "added": True, "tags": ["galaxies", "astro"],
                          "link": "http://127.0.0.1:8000/papers/2504.02003"}
    assert [p["id"] for p in got["after"]["papers"]] == ["2504.02003"]
    # Recent unseen papers, the liked topic (galaxies) first, explained by the saved papers.
    ranked = got["for_you"]["papers"]
    assert ranked and ranked[0]["id"].startswith("2504.02")
    assert ranked[0]["reasons"][0]["paper_id"] in {"2504.02001", "2504.02003"}
    wrong = asyncio.run(_token_session(mcp_url, "ps_not-a-token"))
    assert wrong["list"].is_error and "invalid or revoked" in wrong["list"].content[0].text


async def _stdio_session(settings: Settings, token: str) -> dict[str, Any]:
    src = str(Path(paperscope.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "PAPERSCOPE_TOKEN": token}
    params = StdioServerParameters(command=sys.executable, env=env, args=[
        "-m", "paperscope", "--home", str(settings.home), "--database-url", settings.db_url, "mcp"])
    async with Client(params) as client:
        listed = await client.list_tools()
        return {"tools": {t.name for t in listed.tools},
                "paper": payload(await client.call_tool("paper", {"paper_id": "2504.01001"})),
                "library": payload(await client.call_tool("library_list", {}))}


def test_stdio_server_serves_the_same_tools(indexed_store: sa.Engine, settings: Settings) -> None:
    got = asyncio.run(_stdio_session(settings, TOKEN))
    assert got["tools"] == TOOLS
    assert got["paper"]["title"] == "Protein structure prediction with deep learning"
    assert [p["id"] for p in got["library"]["papers"]] == ["2504.02001"]


def test_foreign_hosts_and_origins_are_refused_and_the_app_restarts(settings: Settings) -> None:
    """DNS-rebinding protection allows this installation's own host (from the base URL) and localhost;
    the endpoint works again after the app's lifespan restarts (the SDK's manager runs only once)."""
    from fastapi.testclient import TestClient

    app = create_app(settings.model_copy(update={"base_url": "https://papers.example.org"}), cache_seconds=0)
    listing = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    headers = {"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-06-18"}
    for _ in range(2):
        with TestClient(app, base_url="https://papers.example.org") as client:
            ok = client.post("/mcp", json=listing, headers=headers)
            assert ok.status_code == 200 and {t["name"] for t in ok.json()["result"]["tools"]} == TOOLS
            evil = client.post("/mcp", json=listing, headers={**headers, "Origin": "https://evil.example"})
            assert evil.status_code == 403
        with TestClient(app, base_url="http://evil.example") as client:
            assert client.post("/mcp", json=listing, headers=headers).status_code == 421
    app_state(app).engine.dispose()
