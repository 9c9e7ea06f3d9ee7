"""One embedder per store: a lock every process that encodes papers into the store takes first.

Two embedders would not corrupt anything (a paper has at most one embedding per model, the codec is
set once), but they would encode the same papers twice. PostgreSQL: a session advisory lock held on a
connection of its own, released when the holder closes it or dies. SQLite: an exclusive `flock` on a
file beside the database, released by the kernel when the holder exits.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import sqlalchemy as sa

# An arbitrary 64-bit key naming this lock among the store's advisory locks.
_ADVISORY_KEY = 0x70617065_72656D62  # "paperemb"


class EmbedderLock:
    """Try to become the store's embedder; `release` (or process exit) lets another take over."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self._conn: sa.Connection | None = None
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._conn is not None or self._fd is not None

    def _lock_file(self) -> Path:
        database = self.engine.url.database or ""
        if not database or database == ":memory:":
            raise ValueError("an in-memory SQLite store has no file to lock")
        return Path(database + ".embedder.lock")

    def acquire(self) -> bool:
        """Take the lock if nobody holds it; True when this process now holds it."""
        if self.held:
            return True
        if self.engine.dialect.name == "postgresql":
            conn = self.engine.connect()
            try_lock = sa.text("SELECT pg_try_advisory_lock(:k)")
            got = bool(conn.execute(try_lock, {"k": _ADVISORY_KEY}).scalar())
            conn.commit()
            if got:
                self._conn = conn
            else:
                conn.close()
            return got
        fd = os.open(self._lock_file(), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        if self._conn is not None:
            try:
                self._conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": _ADVISORY_KEY})
                self._conn.commit()
            finally:
                self._conn.close()
                self._conn = None
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> EmbedderLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
