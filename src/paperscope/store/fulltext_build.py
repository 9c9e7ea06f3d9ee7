"""First loads on SQLite: build the FTS5 index beside the store, on a second core.

A first load into an empty store spends about half of its writer's time in FTS5, fired row by row by
the insert trigger. Here the triggers are set aside for the load: a thread feeds every written
paper into an identical FTS5 table in a scratch database file, in parallel with the writer, and at
the end the finished index (its shadow tables) is copied into the store in one transaction and the
triggers come back.

Safety: a marker row in ``job_state`` (the loader's pid and the trigger SQL) is written in the same
transaction that drops the triggers. If the loader dies, the next ``open_database`` sees the marker
of a dead process and rebuilds the index from the papers table (``recover_fulltext``). If anything
else wrote papers during the load — the counts disagree, or a light guard trigger, in place of the
full-text ones, counted more text updates or deletes than the loader made itself — the index is
rebuilt from the table too. A scratch file left by a loader killed after its last commit is removed
on the next open.
"""

from __future__ import annotations

import contextlib
import os
import queue
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from paperscope.store.schema import job_state

MARKER = "fulltext_side_build"
# Shadow tables that hold the index itself; papers_fts_config (version, hashsize) stays the store's.
_SHADOWS = ("papers_fts_data", "papers_fts_idx", "papers_fts_docsize")
_COLUMNS = "title, abstract, authors"
# While the full-text triggers are away, these count every text update and delete of a paper into the
# marker (`writes`): the loader knows how many it made itself, so any more came from someone else.
# Inserts need no guard: the row counts catch them. Names outside `papers_fts_%` on purpose.
_COUNT_WRITE = (f"UPDATE job_state SET value = json_set(value, '$.writes', "
                f"coalesce(json_extract(value, '$.writes'), 0) + 1) WHERE name = '{MARKER}'; END")
_GUARDS = {
    "papers_side_guard_update": "CREATE TRIGGER papers_side_guard_update AFTER UPDATE OF title, abstract, "
                                "authors ON papers BEGIN " + _COUNT_WRITE,
    "papers_side_guard_delete": "CREATE TRIGGER papers_side_guard_delete AFTER DELETE ON papers BEGIN "
                                + _COUNT_WRITE,
}

# (row id, title, abstract, authors as indexed: the names joined by spaces)
FulltextRow = tuple[int, str | None, str | None, str | None]


def authors_text(authors: Sequence[str] | None) -> str | None:
    """Author names as the full-text view indexes them (group_concat of the JSON list, ' ')."""
    return " ".join(authors) if authors else None


def _sqlite_path(engine: sa.Engine) -> Path | None:
    if engine.dialect.name != "sqlite":
        return None
    name = engine.url.database
    if not name or name == ":memory:" or name.startswith("file:"):
        return None
    return Path(name)


def _side_path(store: Path) -> Path:
    return store.with_name(store.name + ".fts-build")


def _trigger_name(create_sql: str) -> str:
    return create_sql.split()[2]  # CREATE TRIGGER <name> ...


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


class SideFulltextBuild:
    """The full-text index of one first load, built on its own thread; see the module docstring."""

    def __init__(self, store: Path, create_sql: str, hashsize: int | None, triggers: list[str]) -> None:
        self.store = store
        self.side = _side_path(store)
        self.create_sql = create_sql
        self.hashsize = hashsize
        self.triggers = triggers
        self.own_updates = 0  # papers this loader updated (each fires the update guard once)
        self.error: BaseException | None = None
        # Bounded, so a lagging builder slows the writer down instead of holding the whole file in RAM.
        self._queue: queue.Queue[tuple[list[FulltextRow], list[FulltextRow]] | None] = queue.Queue(4)
        self._thread = threading.Thread(target=self._run, name="paperscope-fulltext", daemon=True)

    @classmethod
    def begin(cls, engine: sa.Engine) -> SideFulltextBuild | None:
        """Start a side build when the store is SQLite, on a file, and holds no papers; else None."""
        store = _sqlite_path(engine)
        if store is None:
            return None
        with engine.connect() as conn:
            create = conn.exec_driver_sql(
                "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'papers_fts'").scalar()
            triggers = [sql for (sql,) in conn.exec_driver_sql(
                "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'papers' "
                "AND name LIKE 'papers_fts_%' ORDER BY name")]
            hashsize = conn.exec_driver_sql(
                "SELECT v FROM papers_fts_config WHERE k = 'hashsize'").scalar()
            if create is None or len(triggers) != 3:
                return None
            # The marker is the first write, so the emptiness check below runs under the write lock.
            conn.execute(job_state.insert().prefix_with("OR IGNORE").values(
                name=MARKER, value={"pid": os.getpid(), "triggers": triggers},
                updated_at=datetime.now(UTC)))
            mine = conn.execute(sa.select(job_state.c.value).where(job_state.c.name == MARKER)).scalar()
            empty = conn.exec_driver_sql("SELECT 1 FROM papers LIMIT 1").first() is None
            if not empty or not mine or mine.get("pid") != os.getpid():
                conn.rollback()
                return None
            for sql in triggers:
                conn.exec_driver_sql(f"DROP TRIGGER {_trigger_name(sql)}")
            for sql in _GUARDS.values():
                conn.exec_driver_sql(sql)
            conn.commit()
        build = cls(store, create, int(hashsize) if hashsize else None, triggers)
        build.side.unlink(missing_ok=True)
        os.close(os.open(build.side, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))  # private, as the store
        build._thread.start()
        return build

    def add(self, removed: list[FulltextRow], added: list[FulltextRow], updated: int = 0) -> None:
        """Queue one committed batch: old texts of changed papers to take out, new texts to put in;
        `updated` counts the papers the batch updated (changed text or not)."""
        self.own_updates += updated
        if removed or added:
            self._queue.put((removed, added))

    def _run(self) -> None:
        side = None
        try:
            side = _connect(self.side)
            side.execute("PRAGMA journal_mode=OFF")
            side.execute("PRAGMA synchronous=OFF")
            side.execute(self.create_sql)
            if self.hashsize:
                side.execute("INSERT INTO papers_fts(papers_fts, rank) VALUES ('hashsize', ?)",
                             (self.hashsize,))
            side.execute("BEGIN")
            while (item := self._queue.get()) is not None:
                removed, added = item
                _insert(side, removed, delete=True)
                _insert(side, added, delete=False)
            side.execute("COMMIT")
        except BaseException as exc:  # reported by finish(), which then rebuilds from the table
            self.error = exc
            while self._queue.get() is not None:  # keep the writer from blocking on a full queue
                pass
        finally:
            if side is not None:
                side.close()

    def finish(self) -> None:
        """Wait for the builder, move its index into the store and restore the triggers. Falls back
        to rebuilding the index from the papers table when the side index is incomplete."""
        self._queue.put(None)
        self._thread.join()
        try:
            # ATTACH is refused inside a transaction, so it comes before BEGIN.
            attach = None if self.error is not None else self.side
            with _write_transaction(self.store, attach=attach) as conn:
                copied = False
                if attach is not None:
                    (papers,) = conn.execute("SELECT count(*) FROM main.papers").fetchone()
                    (indexed,) = conn.execute("SELECT count(*) FROM side.papers_fts_docsize").fetchone()
                    (writes,) = conn.execute("SELECT json_extract(value, '$.writes') FROM job_state "
                                             "WHERE name = ?", (MARKER,)).fetchone() or (None,)
                    if papers == indexed and (writes or 0) == self.own_updates:
                        for table in _SHADOWS:
                            conn.execute(f"DELETE FROM main.{table}")
                            conn.execute(f"INSERT INTO main.{table} SELECT * FROM side.{table}")
                        copied = True
                if not copied:
                    _rebuild(conn)
                _restore(conn, self.triggers)
        finally:
            self.side.unlink(missing_ok=True)


@contextlib.contextmanager
def _write_transaction(store: Path, attach: Path | None = None) -> Iterator[sqlite3.Connection]:
    """A connection of its own to the store inside BEGIN IMMEDIATE: committed if the block ends
    normally, rolled back if it raises, closed either way."""
    conn = _connect(store)
    conn.execute("PRAGMA synchronous=NORMAL")  # as the app's own connections: WAL commits without fsync
    try:
        if attach is not None:
            conn.execute("ATTACH DATABASE ? AS side", (str(attach),))
        conn.execute("BEGIN IMMEDIATE")
        yield conn
        if conn.in_transaction:
            conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    finally:
        conn.close()


def _insert(conn: sqlite3.Connection, rows: list[FulltextRow], *, delete: bool) -> None:
    """Multi-row INSERTs into the side FTS5 table: FTS5 flushes its pending data at every statement,
    so one statement per few thousand rows, not one per row."""
    if not rows:
        return
    head = ("INSERT INTO papers_fts(papers_fts, rowid, " + _COLUMNS + ") VALUES " if delete
            else "INSERT INTO papers_fts(rowid, " + _COLUMNS + ") VALUES ")
    one = "('delete', ?, ?, ?, ?)" if delete else "(?, ?, ?, ?)"
    per_stmt = max(1, conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // 4)
    for start in range(0, len(rows), per_stmt):
        part = rows[start:start + per_stmt]
        conn.execute(head + ", ".join([one] * len(part)), [v for row in part for v in row])


def _rebuild(conn: sqlite3.Connection) -> None:
    """Index every paper from scratch (inside the caller's transaction)."""
    conn.execute("INSERT INTO papers_fts(papers_fts) VALUES ('delete-all')")
    conn.execute(f"INSERT INTO papers_fts(rowid, {_COLUMNS}) SELECT id, {_COLUMNS} FROM papers_fts_source")


def _restore(conn: sqlite3.Connection, triggers: list[str]) -> None:
    """Recreate the full-text triggers and drop the marker (inside the caller's transaction)."""
    present = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
    for name in _GUARDS:
        if name in present:
            conn.execute(f"DROP TRIGGER {name}")
    for sql in triggers:
        if _trigger_name(sql) not in present:
            conn.execute(sql)
    conn.execute("DELETE FROM job_state WHERE name = ?", (MARKER,))


def recover_fulltext(engine: sa.Engine) -> bool:
    """Repair the full-text index after a first load that died mid-way (its marker names a process
    that is gone): rebuild it from the papers table and restore the triggers. True if it did."""
    store = _sqlite_path(engine)
    if store is None:
        return False
    with engine.connect() as conn:
        marker = conn.execute(sa.select(job_state.c.value).where(job_state.c.name == MARKER)).scalar()
    pid = marker.get("pid") if isinstance(marker, dict) else None
    if not marker:
        # A loader killed between its final commit and deleting its scratch file: the index is whole,
        # the file is garbage (no load runs without a marker).
        _side_path(store).unlink(missing_ok=True)
        return False
    if isinstance(pid, int) and pid > 0 and _pid_alive(pid):
        return False
    with _write_transaction(store) as conn:
        if conn.execute("SELECT 1 FROM job_state WHERE name = ?", (MARKER,)).fetchone() is None:
            return False  # someone else repaired it meanwhile (nothing written; the commit is empty)
        _rebuild(conn)
        _restore(conn, list(marker["triggers"]))
    _side_path(store).unlink(missing_ok=True)
    return True
