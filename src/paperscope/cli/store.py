"""`paperscope db upgrade` and `paperscope stats`."""

from __future__ import annotations

from typing import Annotated

import orjson
import typer
from rich.table import Table

from paperscope.cli.common import open_store, out, settings_from
from paperscope.store import store_stats
from paperscope.store.db import current_revision

db_app = typer.Typer(no_args_is_help=True, help="Database schema.")


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Apply pending schema migrations."""
    settings = settings_from(ctx)
    engine = open_store(settings)
    out.print(f"database at revision {current_revision(engine)} ({settings.db_url.split('@')[-1]})")


def stats(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    all_categories: Annotated[bool, typer.Option(
        "--all-categories", help="List every category (default: the 30 largest).")] = False,
) -> None:
    """Counts of papers by source, primary category and listing month."""
    st = store_stats(open_store(settings_from(ctx)), top_categories=None if all_categories else 30)
    if as_json:
        out.print_json(orjson.dumps(st.__dict__).decode())
        return
    out.print(f"[bold]{st.total}[/bold] papers")
    for title, data in (("source", st.by_source), ("category", st.by_category), ("month", st.by_month)):
        table = Table(title=f"by {title}", show_header=False)
        for key, value in data.items():
            table.add_row(key, str(value))
        if title == "category" and st.categories_total > len(data):
            table.caption = (f"the {len(data)} largest of {st.categories_total} categories "
                             "(--all-categories lists every one)")
        out.print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")
    app.command("stats")(stats)
