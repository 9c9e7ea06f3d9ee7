"""The digest scheduler `paperscope serve` runs when `PAPERSCOPE_DIGEST_SCHEDULER` is on: every
`digest_interval_minutes`, one digest cycle (`runner.run_cycle`: compose what is due, deliver the
outbox) in a worker thread, so the event loop keeps answering requests. The web app starts and stops it
in its lifespan; cron + `paperscope digest run` is the alternative."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import sqlalchemy as sa

from paperscope.mail.digest import ForYouFactory, TrendingFetch
from paperscope.mail.outbox import SenderBusy
from paperscope.mail.runner import run_cycle
from paperscope.settings import Settings

log = logging.getLogger("paperscope.digest")


class DigestScheduler:
    """Digest cycles at a fixed interval, on the running event loop, until stopped."""

    def __init__(self, engine: sa.Engine, settings: Settings, *, trending: TrendingFetch,
                 for_you: ForYouFactory | None = None) -> None:
        self.engine = engine
        self.settings = settings
        self.trending = trending
        self.for_you = for_you
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        """Whether cycles are being scheduled (between `start` and `stop`)."""
        return self._task is not None and not self._task.done()

    async def run_once(self) -> None:
        """One cycle, logged; a failed cycle is logged and never stops the web app or later cycles."""
        try:
            report = await asyncio.to_thread(run_cycle, self.engine, self.settings, trending=self.trending,
                                             for_you=self.for_you)
            log.info("digest cycle: composed %d, sent %d, retrying %d, failed %d", report.compose.composed,
                     report.delivery.sent, report.delivery.retrying, report.delivery.failed)
        except SenderBusy:
            log.info("digest cycle skipped: another run holds the sender lock")
        except Exception:
            log.exception("digest cycle failed")

    async def _loop(self) -> None:
        while True:
            await self.run_once()
            await asyncio.sleep(self.settings.digest_interval_minutes * 60)

    def start(self) -> None:
        """Begin cycling (the first cycle runs at once). Call from the event loop."""
        if not self.running:
            self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        """Cancel the loop and wait for it (a cycle mid-run finishes in its thread)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
