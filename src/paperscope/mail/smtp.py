"""SMTP delivery over one reused connection (plain, STARTTLS or implicit TLS; optional AUTH).

`SmtpTransport.send` runs MAIL, RCPT and DATA itself so the caller can record the exact moment the body
starts to travel (the point after which a crash leaves the outcome unknown).
"""

from __future__ import annotations

import email.utils
import re
import smtplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass

from paperscope.mail.compose import seven_bit
from paperscope.settings import Settings

SECURITY_MODES = ("none", "starttls", "tls")
_LEADING_DOT = re.compile(rb"(?m)^\.")


class SendFailure(Exception):
    """The server refused a message. `permanent` for 5xx replies; 4xx and broken connections are not."""

    def __init__(self, message: str, *, permanent: bool, code: int | None = None,
                 connection_lost: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.code = code
        self.connection_lost = connection_lost


@dataclass(frozen=True)
class SmtpConfig:
    """Where and how to connect; built from Settings."""

    host: str
    port: int
    security: str
    user: str
    password: str
    sender: str  # envelope sender (the address part of mail_from)
    timeout: float = 30.0
    ssl_context: ssl.SSLContext | None = None

    @classmethod
    def from_settings(cls, settings: Settings, ssl_context: ssl.SSLContext | None = None) -> SmtpConfig:
        if settings.smtp_security not in SECURITY_MODES:
            raise ValueError(f"smtp_security must be one of {', '.join(SECURITY_MODES)}, "
                             f"not {settings.smtp_security!r}")
        return cls(host=settings.smtp_host, port=settings.smtp_port, security=settings.smtp_security,
                   user=settings.smtp_user, password=settings.smtp_password.get_secret_value(),
                   sender=email.utils.parseaddr(settings.mail_from)[1], ssl_context=ssl_context)


def _reply_text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)


class SmtpTransport:
    """One SMTP session, opened on first use and re-opened after the server drops it."""

    def __init__(self, config: SmtpConfig) -> None:
        self.config = config
        self._smtp: smtplib.SMTP | None = None

    def __enter__(self) -> SmtpTransport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def connect(self) -> smtplib.SMTP:
        """Open (or return) the session: TLS as configured, EHLO, then AUTH when a user is set."""
        if self._smtp is not None:
            return self._smtp
        cfg = self.config
        # Loading the system's CA certificates costs ~30 ms of CPU per connection: only when TLS is used.
        context = cfg.ssl_context or (ssl.create_default_context() if cfg.security != "none" else None)
        try:
            smtp = self._open(cfg, context)
        except smtplib.SMTPAuthenticationError as exc:
            raise SendFailure(f"SMTP login refused: {exc.smtp_code} {_reply_text(exc.smtp_error)}",
                              permanent=False, code=exc.smtp_code, connection_lost=True) from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise SendFailure(f"cannot connect to SMTP server {cfg.host}:{cfg.port}: {exc}",
                              permanent=False, connection_lost=True) from exc
        self._smtp = smtp
        return smtp

    @staticmethod
    def _open(cfg: SmtpConfig, context: ssl.SSLContext | None) -> smtplib.SMTP:
        smtp: smtplib.SMTP | None = None
        try:
            if cfg.security == "tls":
                smtp = smtplib.SMTP_SSL(cfg.host, cfg.port, timeout=cfg.timeout, context=context)
            else:
                smtp = smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout)
            smtp.ehlo()
            if cfg.security == "starttls":
                smtp.starttls(context=context)
                smtp.ehlo()
            if cfg.user:
                smtp.login(cfg.user, cfg.password)
            return smtp
        except BaseException:
            if smtp is not None:  # a refused login or certificate must not leave the socket open
                smtp.close()
            raise

    def close(self) -> None:
        """QUIT politely; drop the socket whatever happens."""
        if self._smtp is None:
            return
        try:
            self._smtp.quit()
        except (OSError, smtplib.SMTPException):
            self._smtp.close()
        self._smtp = None

    def _drop(self) -> None:
        if self._smtp is not None:
            self._smtp.close()
        self._smtp = None

    def _refused(self, stage: str, code: int, reply: bytes | str) -> SendFailure:
        smtp = self._smtp
        if code == 421:  # the server is closing the session
            self._drop()
        elif smtp is not None:
            try:
                smtp.rset()
            except (OSError, smtplib.SMTPException):
                self._drop()
        return SendFailure(f"{stage} refused: {code} {_reply_text(reply)}", permanent=500 <= code < 600,
                           code=code, connection_lost=code == 421)

    def send(self, recipient: str, raw: bytes, before_body: Callable[[], None] | None = None) -> None:
        """Deliver one message (CRLF bytes) to one recipient, or raise SendFailure.

        `before_body` runs after the server accepted the recipient and before the body is written: after
        DATA is sent, while the server prepares its 354 reply (a commit there overlaps that round trip).
        When DATA is then refused, the SendFailure says so and the caller records that outcome instead.
        """
        if any(c in recipient for c in "\r\n<> "):
            raise SendFailure(f"invalid recipient address {recipient!r}", permanent=True)
        smtp = self.connect()
        try:
            # MAIL and RCPT written directly: smtplib's mail()/rcpt() re-parse both addresses with the
            # email package on every call, which cost more than the rest of a send. Addresses are
            # validated before they reach the outbox, and putcmd refuses CR/LF.
            body_type = ""
            if not raw.isascii():
                if smtp.has_extn("8bitmime"):
                    body_type = " BODY=8BITMIME"
                else:
                    raw = seven_bit(raw)
            smtp.putcmd("mail", f"FROM:<{self.config.sender}>{body_type}")
            code, reply = smtp.getreply()
            if code != 250:
                raise self._refused("sender", code, reply)
            smtp.putcmd("rcpt", f"TO:<{recipient}>")
            code, reply = smtp.getreply()
            if code not in (250, 251):
                raise self._refused("recipient", code, reply)
            smtp.putcmd("data")
            if before_body is not None:
                before_body()
            code, reply = smtp.getreply()
            if code != 354:
                raise self._refused("DATA", code, reply)
            body = raw
            if raw.startswith(b".") or b"\n." in raw:  # a fast scan first: most messages need nothing
                body = _LEADING_DOT.sub(b"..", raw)  # RFC 5321 section 4.5.2 dot-stuffing
            if not body.endswith(b"\r\n"):
                body += b"\r\n"
            smtp.send(body + b".\r\n")
            code, reply = smtp.getreply()
            if code != 250:
                raise self._refused("message", code, reply)
        except (OSError, smtplib.SMTPServerDisconnected) as exc:
            self._drop()
            raise SendFailure(f"connection lost: {exc}", permanent=False, connection_lost=True) from exc
