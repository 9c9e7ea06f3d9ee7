"""Deliver the outbox: claim -> send -> mark sent, with capped exponential back-off and one sender.

Exactly-once rules:
- A message is composed and stored (with its papers in the sent log) before any SMTP traffic, so a
  crash before sending loses nothing: the next run sends it.
- Each message is recorded `transmitting` just before its body goes out; its 250 reply is recorded as
  `sent` in the same transaction as the next message's marker (or at once after a failure or at the
  end of a batch), so a crash can leave at most one message in doubt, at one commit per message.
- Only one sender runs per home directory (an OS file lock, released by the kernel when a process dies).
  Whoever takes the lock first calls `recover_orphans`: claimed-but-not-transmitting rows are re-queued,
  a `transmitting` row becomes `uncertain` and is not re-sent (see store.mail_outbox for the trade-off).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, fields
from datetime import datetime, timedelta

import sqlalchemy as sa

from paperscope.files import file_lock
from paperscope.mail.smtp import SendFailure, SmtpTransport
from paperscope.settings import Settings
from paperscope.store.mail_outbox import (
    ClaimedMessage,
    claim_due,
    drop_sent_bodies,
    mark_failed,
    mark_retry,
    mark_sent,
    mark_transmitting,
    recover_orphans,
    release,
)
from paperscope.store.papers import utcnow


class SenderBusy(RuntimeError):
    """Another process is composing or sending right now."""


@contextmanager
def sender_lock(settings: Settings) -> Iterator[None]:
    """Hold the installation's single-sender lock (non-blocking: SenderBusy when taken)."""
    settings.ensure_home()
    path = settings.home / "mail-sender.lock"
    with file_lock(path) as held:
        if not held:
            raise SenderBusy(f"another digest run holds {path}")
        yield


@dataclass(frozen=True)
class RetryPolicy:
    """Temporary failures wait base * 2**(attempt-1), at most `max_delay`; after `max_attempts`, failed."""

    base_delay: timedelta = timedelta(minutes=1)
    max_delay: timedelta = timedelta(hours=6)
    max_attempts: int = 8

    def delay(self, attempts: int) -> timedelta:
        """How long to wait after the `attempts`-th failed attempt."""
        return min(self.base_delay * (2 ** max(attempts - 1, 0)), self.max_delay)


@dataclass
class DeliveryReport:
    """What a delivery pass did."""

    sent: int = 0
    retrying: int = 0
    failed: int = 0
    requeued: int = 0  # orphans from a killed run, put back in the queue
    uncertain: int = 0  # orphans that may have been delivered: not re-sent
    stopped: str = ""  # why the pass ended early (SMTP server unreachable), else ""

    @classmethod
    def total(cls, reports: Sequence[DeliveryReport]) -> DeliveryReport:
        """The sum of several workers' reports (the first reason to stop, if any)."""
        out = cls()
        for rep in reports:
            for f in fields(cls):
                if f.name == "stopped":
                    out.stopped = out.stopped or rep.stopped
                else:
                    setattr(out, f.name, getattr(out, f.name) + getattr(rep, f.name))
        return out


class Deliverer:
    """Sends due outbox messages over one SMTP transport, recording each outcome as it happens."""

    def __init__(self, engine: sa.Engine, transport: SmtpTransport, policy: RetryPolicy | None = None,
                 batch_size: int = 200, clock: Callable[[], datetime] = utcnow,
                 kind: str | None = None) -> None:
        self.engine = engine
        self.transport = transport
        self.policy = policy or RetryPolicy()
        self.batch_size = batch_size
        self.clock = clock
        self.kind = kind  # only this kind of message (e.g. "confirm" from the web app), else all
        self._unrecorded: int | None = None  # accepted by the server, `sent` not yet committed
        self._compose_done: threading.Event | None = None
        self._db: sa.Engine | sa.Connection = engine  # one connection for the whole pass (see deliver)
        self._delivered: list[int] = []  # accepted this batch: their bodies go once they are recorded
        self._deferring = False  # WAL checkpoints left to the composer (see _defer_checkpoints)

    def _drop_bodies(self) -> None:
        # After `_record_sent`: only rows committed as sent lose their body.
        drop_sent_bodies(self._db, self._delivered)
        self._delivered = []

    def _record_sent(self) -> None:
        if self._unrecorded is not None:
            mark_sent(self._db, self._unrecorded, self.clock())
            self._unrecorded = None

    def _temporary(self, msg: ClaimedMessage, error: str, report: DeliveryReport) -> None:
        attempts = msg.attempts + 1
        if attempts >= self.policy.max_attempts:
            mark_failed(self._db, msg.id, attempts, f"gave up after {attempts} attempts: {error}")
            report.failed += 1
        else:
            mark_retry(self._db, msg.id, attempts, self.clock() + self.policy.delay(attempts), error)
            report.retrying += 1

    def deliver(self, on_progress: Callable[[DeliveryReport], None] | None = None,
                limit: int | None = None, recover: bool = True,
                compose_done: threading.Event | None = None) -> DeliveryReport:
        """Send every due message (or up to `limit`). Call while holding `sender_lock`.

        With `compose_done`, an empty queue means "wait for more" until the event is set, so sending
        runs alongside composing. `recover=False` when another worker of the same run already did.
        """
        report = DeliveryReport()
        if recover:
            report.requeued, report.uncertain = recover_orphans(self.engine)
        self._compose_done = compose_done
        claim = uuid.uuid4().hex
        # Every record of this pass (one commit per message) goes through one connection, not a pool
        # check-out and reset each time.
        with self.engine.connect() as conn:
            self._db = conn
            self._defer_checkpoints(True)
            try:
                self._deliver_batches(claim, limit, report, on_progress)
            finally:
                self._record_sent()  # whatever stopped us, do not leave an accepted message unrecorded
                self._drop_bodies()
                self._defer_checkpoints(False)
                self._db = self.engine
        return report

    def _defer_checkpoints(self, defer: bool) -> None:
        """While digests are being stored (SQLite), leave WAL checkpoints to the composer's connection.

        The composer writes ~12 MB of bodies per batch; the next commit to pass the WAL's checkpoint
        threshold copies it into the database file before returning, and that was usually a sender's
        per-message commit, stalling its SMTP session for up to a few hundred ms each time.
        """
        conn = self._db
        if not isinstance(conn, sa.Connection) or conn.dialect.name != "sqlite":
            return
        waiting = defer and self._compose_done is not None and not self._compose_done.is_set()
        if waiting != self._deferring:
            conn.exec_driver_sql(f"PRAGMA wal_autocheckpoint = {0 if waiting else 1000}")
            conn.commit()  # SQLAlchemy began a transaction for the pragma; records begin their own
            self._deferring = waiting

    def _deliver_batches(self, claim: str, limit: int | None, report: DeliveryReport,
                         on_progress: Callable[[DeliveryReport], None] | None) -> None:
        handled = 0
        while limit is None or handled < limit:
            size = self.batch_size if limit is None else min(self.batch_size, limit - handled)
            self._defer_checkpoints(True)  # until composing is done
            # Read before claiming: the composer stores its last messages, then says it is done. Read
            # after an empty claim, "done" could have come in between, leaving those messages unsent.
            composing_over = self._compose_done is None or self._compose_done.is_set()
            batch = claim_due(self._db, claim, size, self.clock(), self.kind)
            if not batch:
                if composing_over:
                    break
                time.sleep(0.05)  # the composer is still filling the outbox
                continue
            for n, msg in enumerate(batch):
                handled += 1
                try:
                    self.transport.send(msg.recipient, msg.raw, before_body=self._marker(msg.id))
                except SendFailure as exc:
                    self._record_sent()
                    if exc.permanent:
                        mark_failed(self._db, msg.id, msg.attempts + 1, str(exc))
                        report.failed += 1
                    else:
                        self._temporary(msg, str(exc), report)
                    if exc.connection_lost and not self._reconnects():
                        # The server is unreachable: every later message would fail the same way. Leave
                        # them queued (no attempt counted) for the next run.
                        release(self._db, [m.id for m in batch[n + 1:]])
                        report.stopped = str(exc)
                        return
                else:
                    self._unrecorded = msg.id
                    self._delivered.append(msg.id)
                    report.sent += 1
                if on_progress is not None and handled % 50 == 0:
                    on_progress(report)
            self._record_sent()
            self._drop_bodies()

    def _marker(self, outbox_id: int) -> Callable[[], None]:
        def mark() -> None:
            mark_transmitting(self._db, outbox_id, sent_before=self._unrecorded, now=self.clock())
            self._unrecorded = None
        return mark

    def _reconnects(self) -> bool:
        try:
            self.transport.connect()
        except SendFailure:
            return False
        return True


def deliver_concurrently(engine: sa.Engine, make_transport: Callable[[], SmtpTransport], connections: int,
                         policy: RetryPolicy | None = None, compose_done: threading.Event | None = None,
                         kind: str | None = None,
                         on_progress: Callable[[DeliveryReport], None] | None = None) -> DeliveryReport:
    """Deliver with `connections` SMTP sessions at once, one thread each (call under `sender_lock`).

    Each message costs a few round trips; while one thread waits for the server's reply (the GIL is
    released), another prepares or records its message, so the sender and the server work at the same
    time. Each worker keeps the single-worker guarantees, so a crash leaves at most one message in
    doubt per connection.
    """
    connections = max(connections, 1)
    first = DeliveryReport()
    first.requeued, first.uncertain = recover_orphans(engine)
    reports = [DeliveryReport() for _ in range(connections)]

    def progress(_: DeliveryReport) -> None:
        if on_progress is not None:
            on_progress(DeliveryReport.total(reports))

    def work(n: int) -> None:
        with make_transport() as transport:
            deliverer = Deliverer(engine, transport, policy, kind=kind)
            reports[n] = deliverer.deliver(progress, recover=False, compose_done=compose_done)

    with ThreadPoolExecutor(max_workers=connections) as pool:
        for future in [pool.submit(work, n) for n in range(connections)]:
            future.result()
    return DeliveryReport.total([first, *reports])
