"""A real SMTP server for the mail tests: aiosmtpd on 127.0.0.1, recording what it accepts.

`refuse` maps recipients to the reply their RCPT gets (e.g. 550 or 451), so tests can see permanent and
temporary refusals; `on_mail` / `on_data` hooks let a test act (e.g. kill the sender) at an exact point.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from tests.pg import free_port

_REPLIES = {550: "550 5.1.1 mailbox unavailable", 451: "451 4.3.0 try again later",
            552: "552 5.3.4 message too big"}


@dataclass
class Received:
    """One accepted message."""

    sender: str
    recipient: str
    raw: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.raw, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class RecordingHandler:
    """aiosmtpd handler: refuses chosen recipients, stores the rest."""

    refuse: dict[str, int] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    on_mail: Callable[[int], None] | None = None  # called with the number of MAIL commands so far
    on_data: Callable[[int], None] | None = None  # called after storing, with the number stored
    mail_count: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str,
                          mail_options: list[str]) -> str:
        self.mail_count += 1
        if self.on_mail is not None:
            self.on_mail(self.mail_count)
            await asyncio.sleep(0.3)  # let a killed client really die before we answer
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        code = self.refuse.get(address)
        if code is not None:
            return _REPLIES[code]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            for rcpt in envelope.rcpt_tos:
                self.received.append(Received(envelope.mail_from, rcpt, bytes(envelope.original_content)))
            count = len(self.received)
        if self.on_data is not None:
            self.on_data(count)
            await asyncio.sleep(0.3)
        return "250 Message accepted"

    def to(self, recipient: str) -> list[Received]:
        return [r for r in self.received if r.recipient == recipient]


class SmtpServer:
    """Start/stop wrapper: `port`, `handler`."""

    def __init__(self, handler: RecordingHandler | None = None, **controller_kwargs: Any) -> None:
        self.handler = handler or RecordingHandler()
        self.port = free_port()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port, **controller_kwargs)

    def start(self) -> SmtpServer:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()
