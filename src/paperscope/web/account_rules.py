"""What a username, a password and an address must be: one rule for sign-up, invitations and the CLI."""

from __future__ import annotations

import re

from email_validator import EmailNotValidError, validate_email

USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{2,39}$")
MIN_PASSWORD = 10


def new_account_problem(username: str, password: str, email: str) -> tuple[str | None, str]:
    """(what is wrong with a new account's fields in plain words, or None; the normalised address)."""
    if not USERNAME.match(username):
        return "Usernames are 3–40 letters, digits, '.', '_' or '-', starting with a letter or digit.", ""
    if len(password) < MIN_PASSWORD:
        return f"Choose a password of at least {MIN_PASSWORD} characters.", ""
    try:
        return None, validate_email(email, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        return f"That email address does not look right: {exc}", ""
