"""`paperscope user add/promote/suspend/list`: manage accounts from the shell (e.g. the first admin)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from paperscope.cli.common import console, open_store, out, settings_from
from paperscope.store import users as user_store

app = typer.Typer(no_args_is_help=True, help="Accounts: add users, change roles, suspend.")


def _found(ctx: typer.Context, name: str) -> tuple[object, user_store.User]:
    engine = open_store(settings_from(ctx))
    user = user_store.find_user(engine, name)
    if user is None:
        console.print(f"[red]no user {name!r}[/red]")
        raise typer.Exit(1)
    return engine, user


@app.command("add")
def add(
    ctx: typer.Context,
    username: Annotated[str, typer.Argument(help="3-40 letters, digits, . _ -")],
    email: Annotated[str, typer.Argument(help="Address for password resets.")],
    role: Annotated[str, typer.Option(help="user, moderator or admin.")] = "user",
    password_stdin: Annotated[bool, typer.Option("--password-stdin",
                                                 help="Read the password from standard input.")] = False,
) -> None:
    """Create an account (prompts for the password unless --password-stdin)."""
    # The web app's account rules, imported here so other commands start without FastAPI.
    from email_validator import EmailNotValidError, validate_email

    from paperscope.web.account_rules import MIN_PASSWORD, USERNAME
    from paperscope.web.passwords import password_hasher

    if not USERNAME.match(username):
        console.print("[red]usernames are 3-40 letters, digits, '.', '_' or '-'[/red]")
        raise typer.Exit(2)
    try:
        address = validate_email(email, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        console.print(f"[red]bad email address: {exc}[/red]")
        raise typer.Exit(2) from None
    if role not in user_store.ROLES:
        console.print(f"[red]role must be one of {', '.join(user_store.ROLES)}[/red]")
        raise typer.Exit(2)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    if len(password) < MIN_PASSWORD:
        console.print(f"[red]the password needs at least {MIN_PASSWORD} characters[/red]")
        raise typer.Exit(2)
    engine = open_store(settings_from(ctx))
    try:
        user = user_store.create_user(engine, username, address, password_hasher().hash(password), role=role)
    except user_store.UserExists as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    out.print(f"created {user.username} ({user.role})")


@app.command("promote")
def promote(
    ctx: typer.Context,
    username: str,
    role: Annotated[str, typer.Option(help="moderator, admin, or user to demote.")] = "moderator",
) -> None:
    """Give an account a role."""
    if role not in user_store.ROLES:
        console.print(f"[red]role must be one of {', '.join(user_store.ROLES)}[/red]")
        raise typer.Exit(2)
    engine, user = _found(ctx, username)
    user_store.set_role(engine, user.id, role)  # type: ignore[arg-type]
    out.print(f"{user.username} is now {role}")


@app.command("suspend")
def suspend(
    ctx: typer.Context,
    username: str,
    undo: Annotated[bool, typer.Option("--undo", help="Reinstate the account.")] = False,
) -> None:
    """Suspend an account (its sessions end and its API tokens stop working), or reinstate it."""
    engine, user = _found(ctx, username)
    status = "active" if undo else "suspended"
    user_store.set_status(engine, user.id, status)  # type: ignore[arg-type]
    out.print(f"{user.username} is now {status}")


@app.command("list")
def list_users(ctx: typer.Context) -> None:
    """Every account with its role and status."""
    engine = open_store(settings_from(ctx))
    for user in user_store.list_users(engine):
        out.print(f"{user.username}\t{user.email}\t{user.role}\t{user.status}")


@app.command("invite")
def invite(
    ctx: typer.Context,
    email: Annotated[str, typer.Option(
        help="Only this address may accept it (and counts as confirmed).")] = "",
    role: Annotated[str, typer.Option(help="user, moderator or admin.")] = "user",
    days: Annotated[int, typer.Option(min=1, max=90, help="Days before the link expires.")] = 7,
) -> None:
    """Print a single-use invitation link (PAPERSCOPE_SIGNUP=invite lets only these create accounts)."""
    import secrets
    from datetime import UTC, datetime, timedelta

    from email_validator import EmailNotValidError, validate_email

    from paperscope.store import invitations

    if role not in user_store.ROLES:
        console.print(f"[red]role must be one of {', '.join(user_store.ROLES)}[/red]")
        raise typer.Exit(2)
    address: str | None = None
    if email:
        try:
            address = validate_email(email, check_deliverability=False).normalized
        except EmailNotValidError as exc:
            console.print(f"[red]bad email address: {exc}[/red]")
            raise typer.Exit(2) from None
    settings = settings_from(ctx)
    engine = open_store(settings)
    token = secrets.token_urlsafe(32)
    invitations.create_invitation(engine, token, email=address, role=role, created_by=None,
                                  now=datetime.now(UTC), valid_for=timedelta(days=days))
    out.print(f"{settings.base_url.rstrip('/')}/invite/{token}")


@app.command("verify")
def verify(ctx: typer.Context, username: str) -> None:
    """Mark an account's email address as confirmed (when it cannot receive the mailed link)."""
    engine, user = _found(ctx, username)
    user_store.mark_verified(engine, user.id)  # type: ignore[arg-type]
    out.print(f"{user.username}'s address is confirmed")
