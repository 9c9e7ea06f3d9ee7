"""`paperscope alerts run|status`: match alerts against new papers, send their mail and webhooks."""

from __future__ import annotations

from typing import Annotated

import typer

from paperscope.cli.common import console, open_store, out, settings_from

app = typer.Typer(no_args_is_help=True, help="Alerts on authors, searches and categories.")


@app.command("run")
def run(
    ctx: typer.Context,
    send_only: Annotated[bool, typer.Option("--send-only", help="Only deliver what is queued.")] = False,
) -> None:
    """Find new matches, queue their messages, deliver webhooks and alert mail (cron-safe)."""
    from paperscope.mail.alerts import AlertsBusy, alerts_lock, run_alerts
    from paperscope.mail.runner import deliver_pending
    from paperscope.mail.webhooks import deliver_webhooks

    settings = settings_from(ctx)
    engine = open_store(settings)
    try:
        with alerts_lock(settings):
            if not send_only:
                report = run_alerts(engine, settings)
                out.print(f"alerts: {report.alerts}, papers looked at: {report.papers_considered}, "
                          f"new matches: {report.matched}, messages queued: {report.messages}")
            hooks = deliver_webhooks(engine, settings)
            out.print(f"webhooks: {hooks.sent} sent, {hooks.retrying} to retry, {hooks.failed} failed, "
                      f"{hooks.uncertain} uncertain")
    except AlertsBusy as exc:
        console.print(f"[yellow]{exc}[/yellow]")
        raise typer.Exit(0) from None
    mail = deliver_pending(engine, settings, kind="alert")
    if mail is None:
        out.print("alert mail: the mail sender is busy; the next run sends it")
    else:
        out.print(f"alert mail: {mail.sent} sent, {mail.retrying} to retry, {mail.failed} failed")


@app.command("status")
def status(ctx: typer.Context) -> None:
    """Webhook messages by state."""
    from paperscope.store.alerts import webhook_counts

    counts = webhook_counts(open_store(settings_from(ctx)))
    for state_name, n in sorted(counts.items()):
        out.print(f"{state_name}\t{n}")
