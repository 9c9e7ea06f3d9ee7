"""A cheap "has anything been written?" token for caches of rendered pages.

`StoreVersion.current()` returns a value that changes whenever any transaction commits to the store,
from any process (web workers, `paperscope ingest`, the digest sender). It over-approximates — a write
that changes nothing a page shows still changes it — which costs a cache refill, never a stale page.

- SQLite: `PRAGMA data_version` on a connection kept for this purpose only. It changes when another
  connection commits; this connection never writes, so every commit counts. A few microseconds.
- PostgreSQL: the xmax of the current snapshot, i.e. the next transaction id to be assigned. Only
  transactions that write take a transaction id, so reads leave it alone. One round trip.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
from typing import Any

import sqlalchemy as sa

_PG_QUERY = "SELECT pg_snapshot_xmax(pg_current_snapshot())::text"
_unique = itertools.count(1)


class StoreVersion:
    """The store's write version, read through one dedicated connection (thread-safe)."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self._sqlite = engine.dialect.name == "sqlite"
        self._conn: Any = None
        self._lock = threading.Lock()

    def _open(self) -> Any:
        if self._sqlite:
            # A raw DBAPI connection of its own: PRAGMA data_version is relative to the connection
            # asking, so it must never be one the app also writes through.
            return self.engine.raw_connection()
        return self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")

    def _read(self) -> str:
        if self._conn is None:
            self._conn = self._open()
        if self._sqlite:
            cur = self._conn.cursor()
            try:
                return f"s{cur.execute('PRAGMA data_version').fetchone()[0]}"
            finally:
                cur.close()
        return f"p{self._conn.exec_driver_sql(_PG_QUERY).scalar()}"

    def current(self) -> str:
        """A token that differs from every earlier one once anything was committed to the store.

        When the store cannot be asked, a token never returned before: callers then treat everything
        they cached as stale rather than serve it on trust.
        """
        with self._lock:
            try:
                return self._read()
            except Exception:  # any failure means "unknown", handled the safe way
                self.close()
                return f"u{next(_unique)}"

    def close(self) -> None:
        """Give the connection back (it is reopened on the next `current()`)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            # Closing a broken connection may itself fail; there is nothing more to do then.
            with contextlib.suppress(Exception):
                conn.close()
