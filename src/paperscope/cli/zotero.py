"""`paperscope library sync-zotero`: copy a reader's library into a Zotero group (idempotent)."""

from __future__ import annotations

from typing import Annotated

import typer

from paperscope.cli.common import console, friendly_errors, open_store, out, settings_from

app = typer.Typer(no_args_is_help=True, help="A reader's library.")


@app.command("sync-zotero")
def sync_zotero(
    ctx: typer.Context,
    user: Annotated[str, typer.Option(help="Whose library (user name or email).")],
    group: Annotated[str, typer.Option(help="Zotero group id (the number in the group's URL).")],
    api_key: Annotated[str, typer.Option(envvar="PAPERSCOPE_ZOTERO_API_KEY",
                                         help="A Zotero API key with write access to the group.")],
    tag: Annotated[str | None, typer.Option(help="Only papers with this library tag.")] = None,
    zotero_url: Annotated[str, typer.Option(envvar="PAPERSCOPE_ZOTERO_URL", help="Zotero Web API.")]
    = "https://api.zotero.org",
) -> None:
    """Add every saved paper the group does not have yet (matched by arXiv id), with its tags; running
    it again adds nothing twice."""
    from paperscope.cli.ingest import polite_client
    from paperscope.sources.http import SourceError
    from paperscope.sources.zotero import ZoteroGroup
    from paperscope.store import get_papers_by_rowid
    from paperscope.store import library as library_store
    from paperscope.store.users import find_user

    settings = settings_from(ctx)
    with friendly_errors():
        engine = open_store(settings)
        account = find_user(engine, user)
        if account is None:
            raise ValueError(f"no user {user!r}")
        items = library_store.list_library(engine, account.id, tag=tag)
        found = {p.rowid: p for p in get_papers_by_rowid(engine, [i.rowid for i in items])}
        papers = [(found[i.rowid], i.tags) for i in items if i.rowid in found]
        with polite_client(settings) as client:
            try:
                report = ZoteroGroup(client, zotero_url, group, api_key).sync(papers)
            except SourceError as exc:
                console.print(f"[red]error:[/red] {exc}")
                raise typer.Exit(1) from None
    for problem in report.failed:
        console.print(f"[yellow]not added:[/yellow] {problem}")
    out.print(f"{len(papers)} papers: {report.added} added, {report.already} already in the group "
              f"({report.in_group} items before)")
