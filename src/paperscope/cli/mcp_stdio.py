"""`paperscope mcp`: the MCP tools (`web/mcp_tools.py`) over stdio, for agents that start a local server."""

from __future__ import annotations

from typing import Annotated

import typer

from paperscope.cli.common import settings_from


def mcp_command(
    ctx: typer.Context,
    token: Annotated[str | None, typer.Option(
        envvar="PAPERSCOPE_TOKEN",
        help="An API token (see /account or `paperscope user`): for_you and the library tools act as its "
             "owner. Without one they refuse.")] = None,
) -> None:
    """Serve search, paper, similar, daily, trending (and with a token for_you, library_list,
    library_add) to an MCP client over stdin/stdout."""
    from paperscope.feed.foryou import ForYou
    from paperscope.feed.similar import SimilarPapers
    from paperscope.search import SearchEngine
    from paperscope.store import open_database
    from paperscope.web.mcp_tools import McpBackend, build_mcp

    settings = settings_from(ctx)
    settings.ensure_home()
    engine = open_database(settings.db_url)
    search = SearchEngine(engine, settings)
    backend = McpBackend(engine=engine, settings=settings, search=search,
                         similar=SimilarPapers(search.retriever), foryou=ForYou(search.retriever),
                         token=token or None)
    try:
        build_mcp(backend).run("stdio")  # stdout carries the protocol: nothing else may print there
    finally:
        engine.dispose()


def register(app: typer.Typer) -> None:
    app.command("mcp")(mcp_command)
