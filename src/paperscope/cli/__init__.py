"""The `paperscope` command: thin typer commands that parse, call one stage and print."""
# ruff: noqa: E402  (imports follow the process-wide setup below on purpose)

from __future__ import annotations

from paperscope.runtime import configure_process

configure_process()  # before any command imports numpy

from pathlib import Path
from typing import Annotated

import typer

from paperscope.cli import alerts as alert_cmds
from paperscope.cli import citations as citation_cmds
from paperscope.cli import digest as digest_cmds
from paperscope.cli import index as index_cmds
from paperscope.cli import ingest as ingest_cmds
from paperscope.cli import map as map_cmds
from paperscope.cli import mcp_stdio as mcp_cmds
from paperscope.cli import models as model_cmds
from paperscope.cli import search as search_cmds
from paperscope.cli import similar as similar_cmds
from paperscope.cli import store as store_cmds
from paperscope.cli import users as users_cmds
from paperscope.cli import web as web_cmds
from paperscope.cli import zotero as zotero_cmds
from paperscope.cli.common import close_stores
from paperscope.settings import Settings

app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="paperscope: self-hosted research-paper discovery.")


@app.callback()
def _root(
    ctx: typer.Context,
    home: Annotated[Path | None, typer.Option(help="Data folder (PAPERSCOPE_HOME).")] = None,
    database_url: Annotated[
        str | None, typer.Option(help="SQLAlchemy URL (PAPERSCOPE_DATABASE_URL).")
    ] = None,
) -> None:
    overrides: dict[str, object] = {}
    if home is not None:
        overrides["home"] = home
    if database_url is not None:
        overrides["database_url"] = database_url
    ctx.obj = Settings(**overrides)  # type: ignore[arg-type]
    ctx.call_on_close(close_stores)


app.add_typer(ingest_cmds.app, name="ingest")
app.add_typer(digest_cmds.app, name="digest")
app.add_typer(alert_cmds.app, name="alerts")
app.add_typer(users_cmds.app, name="user")
app.add_typer(model_cmds.app, name="model")
app.add_typer(zotero_cmds.app, name="library")
store_cmds.register(app)
ingest_cmds.register(app)
index_cmds.register(app)
search_cmds.register(app)
similar_cmds.register(app)
web_cmds.register(app)
mcp_cmds.register(app)
map_cmds.register(app)
ingest_cmds.app.command("citations")(citation_cmds.ingest_citations)


def main() -> None:
    """Console-script entry point."""
    app()
