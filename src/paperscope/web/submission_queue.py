"""Fetching submitted papers from arXiv off the request threads: one worker thread per process, one
polite client (request spacing, Retry-After), a bounded queue with a cap per user.

A submission of a paper the store lacks used to fetch it inside the request, on a route thread:
forty submissions of unknown ids while arXiv was slow held every thread of the pool, and another
user's `GET /api/v1/me` waited 38 s. Now the request puts a `Job` here and waits for it on the event
loop (no thread held) for a few seconds at most; the worker takes queued jobs in batches (one arXiv
request for up to `batch` ids), stores and lists the papers, and settles each job's future. A
request that stops waiting answers "queued"; the outcome stays readable in `outcome()` for a while.

The worker starts on the first job and ends after `idle_seconds` without work (closing its client),
so an idle app holds no thread or connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from paperscope.model import Paper
from paperscope.sources.http import PoliteClient

log = logging.getLogger("paperscope.submissions")
KEEP_OUTCOMES = 2000


@dataclass(frozen=True)
class Outcome:
    """How a submission ended: 201 listed (with the stored paper), or an HTTP status and why."""

    status: int
    detail: str
    paper: Paper | None = None


@dataclass
class Job:
    """One submission waiting for arXiv."""

    user_id: int
    username: str
    arxiv_id: str
    at: datetime
    waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[Outcome]]] = field(default_factory=list)


class QueueFull(Exception):
    """Too many submissions are waiting for arXiv already; try again later."""


class TooManyPending(Exception):
    """This account already has its share of submissions waiting."""


# The worker's job: fetch a batch from arXiv with the client, store and list them, one Outcome per job.
Handler = Callable[[list[Job], PoliteClient], list[Outcome]]


class SubmissionQueue:
    """A bounded queue of submissions drained by one worker thread with one PoliteClient."""

    def __init__(self, handle: Handler, client: Callable[[], PoliteClient], *, capacity: int = 50,
                 per_user: int = 3, batch: int = 20, idle_seconds: float = 30.0) -> None:
        self._handle = handle
        self._client = client
        self.capacity = capacity
        self.per_user = per_user
        self.batch = batch
        self.idle_seconds = idle_seconds
        self._jobs: queue.Queue[Job | None] = queue.Queue()  # None: stop
        self._lock = threading.Lock()
        self._pending: dict[tuple[int, str], Job] = {}
        self._outcomes: OrderedDict[tuple[int, str], Outcome] = OrderedDict()
        self._worker: threading.Thread | None = None
        self._stopping = threading.Event()

    def submit(self, user_id: int, username: str, arxiv_id: str, at: datetime) -> asyncio.Future[Outcome]:
        """Queue a fetch (call from the event loop); the future settles when the worker is done.
        Raises TooManyPending or QueueFull instead of queueing without bound."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Outcome] = loop.create_future()
        key = (user_id, arxiv_id)
        with self._lock:
            job = self._pending.get(key)
            if job is None:
                if sum(1 for uid, _ in self._pending if uid == user_id) >= self.per_user:
                    raise TooManyPending
                if len(self._pending) >= self.capacity:
                    raise QueueFull
                job = Job(user_id, username, arxiv_id, at)
                self._pending[key] = job
                self._jobs.put(job)
            job.waiters.append((loop, future))  # the same paper twice: both wait for one fetch
            if self._worker is None:
                self._worker = threading.Thread(target=self._run, name="paperscope-submissions", daemon=True)
                self._worker.start()
        return future

    def outcome(self, user_id: int, arxiv_id: str) -> Outcome | None:
        """What became of this account's submission of this id: 202 while queued, else how it ended
        (None when there is no recent one)."""
        with self._lock:
            if (user_id, arxiv_id) in self._pending:
                return Outcome(202, "queued: waiting for arXiv")
            return self._outcomes.get((user_id, arxiv_id))

    def stop(self) -> None:
        """Let the worker finish its batch and end (app shutdown)."""
        self._stopping.set()
        self._jobs.put(None)  # wakes a worker waiting for work
        worker = self._worker
        if worker is not None:
            worker.join(timeout=30)

    # The worker -------------------------------------------------------------------------------------------

    def _take(self) -> list[Job]:
        try:
            first = self._jobs.get(timeout=self.idle_seconds)
        except queue.Empty:
            return []
        jobs = [first] if first is not None else []
        while jobs and len(jobs) < self.batch:
            try:
                more = self._jobs.get_nowait()
            except queue.Empty:
                break
            if more is not None:
                jobs.append(more)
        return jobs

    def _run(self) -> None:
        client = self._client()
        try:
            while not self._stopping.is_set():
                jobs = self._take()
                if not jobs:
                    with self._lock:
                        if self._jobs.empty() or self._stopping.is_set():
                            self._worker = None
                            return
                    continue
                try:
                    outcomes = self._handle(jobs, client)
                except Exception:  # one bad batch must not kill the worker or leave waiters hanging
                    log.exception("submission batch failed")
                    outcomes = [Outcome(503, "the submission could not be processed; try again")] * len(jobs)
                for job, outcome in zip(jobs, outcomes, strict=True):
                    self._settle(job, outcome)
        finally:
            client.close()
            with self._lock:
                if self._worker is threading.current_thread():
                    self._worker = None

    def _settle(self, job: Job, outcome: Outcome) -> None:
        key = (job.user_id, job.arxiv_id)
        with self._lock:
            self._pending.pop(key, None)
            self._outcomes[key] = outcome
            self._outcomes.move_to_end(key)
            while len(self._outcomes) > KEEP_OUTCOMES:
                self._outcomes.popitem(last=False)
            waiters = list(job.waiters)
        for loop, future in waiters:
            with contextlib.suppress(RuntimeError):  # that request's loop is gone (app stopped)
                loop.call_soon_threadsafe(_resolve, future, outcome)


def _resolve(future: asyncio.Future[Outcome], outcome: Outcome) -> None:
    if not future.done():
        future.set_result(outcome)
