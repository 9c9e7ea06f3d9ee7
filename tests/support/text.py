"""Reading values out of pages and messages in tests."""

from __future__ import annotations

import re
from email.message import EmailMessage


def found(pattern: str, text: str, group: int = 1) -> str:
    """The `group` of the first match of `pattern` in `text`; fails the test when there is none."""
    match = re.search(pattern, text)
    assert match, f"{pattern!r} not found in {text[:500]!r}"
    return match.group(group)


def body_part(message: EmailMessage, kind: str) -> EmailMessage:
    """The message's text/`kind` part ("plain" or "html"); fails the test when there is none."""
    part = message.get_body((kind,))
    assert isinstance(part, EmailMessage), f"no text/{kind} part"
    return part
