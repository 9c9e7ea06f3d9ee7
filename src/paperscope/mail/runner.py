"""One digest cycle, as `paperscope digest run` and the optional scheduler in `paperscope serve` do it:
take the sender lock, compose due digests into the outbox, deliver what is due."""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa

from paperscope.files import write_atomically
from paperscope.mail.compose import Composer
from paperscope.mail.digest import (
    ComposeReport,
    DigestComposer,
    ForYouFactory,
    SectionProvider,
    TrendingFetch,
    default_providers,
)
from paperscope.mail.outbox import (
    Deliverer,
    DeliveryReport,
    RetryPolicy,
    SenderBusy,
    deliver_concurrently,
    sender_lock,
)
from paperscope.mail.smtp import SmtpConfig, SmtpTransport
from paperscope.mail.tokens import MailTokens
from paperscope.search import SearchEngine
from paperscope.settings import Settings
from paperscope.store.papers import utcnow


@dataclass
class CycleReport:
    """A compose pass and a delivery pass."""

    compose: ComposeReport = field(default_factory=ComposeReport)
    delivery: DeliveryReport = field(default_factory=DeliveryReport)
    dry_run_files: list[Path] = field(default_factory=list)
    compose_seconds: float = 0.0
    seconds: float = 0.0


def digest_composer(engine: sa.Engine, settings: Settings, trending: TrendingFetch | None,
                    providers: list[SectionProvider] | None = None,
                    for_you: ForYouFactory | None = None) -> DigestComposer:
    """A DigestComposer with the default sections (or `providers`)."""
    if providers is None:
        providers = default_providers(engine, SearchEngine(engine, settings), trending, for_you)
    return DigestComposer(engine, Composer(settings), MailTokens(settings), providers)


def write_dry_run(composer: DigestComposer, now: datetime, directory: Path) -> CycleReport:
    """Compose what is due into `directory` as .eml files; store nothing, send nothing."""
    report = CycleReport()
    directory.mkdir(parents=True, exist_ok=True)
    for batch in composer.batches(now, report.compose):
        for msg in batch:
            safe = "".join(c if c.isalnum() or c in "@.-_" else "_" for c in msg.recipient)
            path = directory / f"{msg.digest_key}-{safe}.eml"
            write_atomically(path, msg.raw, durable=False)  # a preview: not worth an fsync per message
            report.dry_run_files.append(path)
    return report


def deliver_pending(engine: sa.Engine, settings: Settings, *, kind: str | None = None,
                    ssl_context: ssl.SSLContext | None = None) -> DeliveryReport | None:
    """Deliver due messages now (e.g. a confirmation mail right after subscribing). Returns None when
    another sender holds the lock: it, or the next cron / scheduler run, will send them."""
    try:
        with sender_lock(settings), SmtpTransport(SmtpConfig.from_settings(settings, ssl_context)) as smtp:
            return Deliverer(engine, smtp, kind=kind).deliver()
    except SenderBusy:
        return None


def run_cycle(engine: sa.Engine, settings: Settings, *, trending: TrendingFetch | None,
              now: datetime | None = None, policy: RetryPolicy | None = None,
              ssl_context: ssl.SSLContext | None = None, compose: bool = True,
              on_progress: Callable[[str, int], None] | None = None,
              for_you: ForYouFactory | None = None) -> CycleReport:
    """Compose due digests and deliver the outbox, holding the single-sender lock (SenderBusy if held).

    Delivery starts at once, on `settings.smtp_connections` sessions, and sends each batch as soon as
    the composer has stored it, so composing and sending overlap.
    """
    now = now or utcnow()
    report = CycleReport()
    started = time.perf_counter()
    with sender_lock(settings):
        composed = threading.Event()

        def transport() -> SmtpTransport:
            return SmtpTransport(SmtpConfig.from_settings(settings, ssl_context))

        def sent(rep: DeliveryReport) -> None:
            if on_progress is not None:
                on_progress("sent", rep.sent)

        with ThreadPoolExecutor(max_workers=1) as pool:
            sending = pool.submit(deliver_concurrently, engine, transport, settings.smtp_connections, policy,
                                  composed, None, sent)
            try:
                if compose:
                    composer = digest_composer(engine, settings, trending, for_you=for_you)
                    report.compose = composer.compose_due(
                        now, on_batch=(lambda n: on_progress("composed", n)) if on_progress else None)
                    report.compose_seconds = time.perf_counter() - started
            finally:
                composed.set()  # even when composing failed: let the senders finish and stop
            report.delivery = sending.result()
    report.seconds = time.perf_counter() - started
    return report
