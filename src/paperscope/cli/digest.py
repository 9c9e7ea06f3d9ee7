"""`paperscope digest run|preview|status`: compose and send email digests (cron-friendly, plain output)."""

from __future__ import annotations

import email
import email.policy
from pathlib import Path
from typing import Annotated

import typer

from paperscope.cli.common import Reporter, console, friendly_errors, open_store, out, settings_from
from paperscope.feed.trending import trending_fetch

# The mail stack pulls in search (numpy, onnxruntime, usearch): imported by the commands that use it, so
# every other `paperscope` command starts without it (and `ingest` forks a smaller parser process).

app = typer.Typer(no_args_is_help=True, help="Email digests: compose, send, preview.")


@app.command("run")
def run(
    ctx: typer.Context,
    dry_run: Annotated[Path | None, typer.Option(
        "--dry-run", help="Write the digests that are due as .eml files into this folder; store and send "
                          "nothing.")] = None,
    send_only: Annotated[bool, typer.Option(
        help="Deliver the outbox without composing new digests.")] = False,
) -> None:
    """Compose due digests (daily on weekdays, weekly once a week) and deliver the outbox.

    Safe to run from cron as often as you like and to kill at any time: each edition is composed once
    per subscriber and each stored message is sent at most once. Exit code 1 when the SMTP server
    could not be reached (messages stay queued), 3 when another run is active.
    """
    from paperscope.feed.foryou import digest_picks
    from paperscope.mail.outbox import SenderBusy
    from paperscope.mail.runner import digest_composer, run_cycle, write_dry_run
    from paperscope.store.papers import utcnow

    settings = settings_from(ctx)
    engine = open_store(settings)
    now = utcnow()
    with friendly_errors():
        if dry_run is not None:
            composer = digest_composer(engine, settings, trending_fetch(engine), for_you=digest_picks)
            report = write_dry_run(composer, now, dry_run)
            c = report.compose
            out.print(f"dry run: wrote {len(report.dry_run_files)} message(s) to {dry_run} "
                      f"({c.empty} with nothing new, {c.already} already composed); nothing sent",
                      highlight=False)
            return
        try:
            with Reporter("digests", total=None, unit="messages") as bar:
                report = run_cycle(engine, settings, trending=trending_fetch(engine), now=now,
                                   compose=not send_only, for_you=digest_picks,
                                   on_progress=lambda what, n: bar.update(n, note=what))
        except SenderBusy as exc:
            console.print(f"busy: {exc}", highlight=False)
            raise typer.Exit(3) from None
    c, d = report.compose, report.delivery
    if not send_only:
        out.print(f"composed {c.composed} digest(s) for {', '.join(c.periods)} ({c.empty} with nothing new, "
                  f"{c.already} already composed)", highlight=False)
    out.print(f"sent {d.sent}, retrying later {d.retrying}, failed {d.failed}, recovered from an earlier "
              f"crash {d.requeued} (+{d.uncertain} possibly delivered, not re-sent)", highlight=False)
    if d.stopped:
        console.print(f"stopped early: {d.stopped}", highlight=False)
        raise typer.Exit(1)


@app.command("preview")
def preview(
    ctx: typer.Context,
    address: Annotated[str, typer.Argument(help="A subscriber's email address.")],
    raw: Annotated[bool, typer.Option("--raw", help="Print the whole MIME message.")] = False,
) -> None:
    """Show the digest this subscriber would get next (nothing is stored or sent)."""
    from paperscope.feed.foryou import digest_picks
    from paperscope.mail.runner import digest_composer
    from paperscope.mail.subscribe import normalize_address
    from paperscope.store.papers import utcnow
    from paperscope.store.subscriptions import find_subscription

    settings = settings_from(ctx)
    engine = open_store(settings)
    with friendly_errors():
        sub = find_subscription(engine, normalize_address(address))
        if sub is None:
            raise ValueError(f"no subscription for {address}")
        msg = digest_composer(engine, settings, trending_fetch(engine),
                              for_you=digest_picks).preview(sub, utcnow())
    if sub.status != "active":
        console.print(f"note: this subscription is {sub.status}; it gets nothing until that changes",
                      highlight=False)
    if msg is None:
        out.print("nothing new for this subscriber right now", highlight=False)
        return
    if raw:
        out.print(msg.raw.decode("utf-8"), highlight=False, markup=False)  # the text part travels 8-bit
        return
    parsed = email.message_from_bytes(msg.raw, policy=email.policy.default)
    for name in ("From", "To", "Subject", "List-Unsubscribe"):
        out.print(f"{name}: {parsed[name]}", highlight=False, markup=False)
    body = parsed.get_body(("plain",))
    out.print("\n" + (body.get_content() if body is not None else ""), highlight=False, markup=False)


@app.command("status")
def status(ctx: typer.Context) -> None:
    """Outbox messages by state (queued, sent, failed, uncertain...)."""
    from paperscope.store.mail_outbox import outbox_counts

    counts = outbox_counts(open_store(settings_from(ctx)))
    for state in ("queued", "sending", "transmitting", "sent", "failed", "uncertain"):
        out.print(f"{state} {counts.get(state, 0)}", highlight=False)
