"""Rendered anonymous pages shared by all worker processes of one installation, as files.

Each worker keeps its own in-memory cache (`cache.py`); without this layer every worker would render
every page once for itself. Here a page rendered by one worker is written to a file named by the hash
of its cache key, and the others read it instead of rendering it again. The folder lives in shared
memory (/dev/shm, private to this user): on a disk, replacing small files costs milliseconds — as much
as rendering the page — and the cache is worthless after a reboot anyway. Without /dev/shm, pages
are not shared.

Workers cannot compare store versions with each other (SQLite's `PRAGMA data_version` is only
meaningful to the connection that asked), so validity is decided by time, on the machine-wide
monotonic clock: a file records when its rendering started (after which everything it shows was
read), and a worker accepts it only if that is later than the moment that worker last saw the store
change. Since every worker checks the store version on every cacheable request, a page that could
miss a committed write is never accepted.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import threading
import time
from pathlib import Path

import orjson

from paperscope.file_cache import BoundedFolder
from paperscope.files import write_atomically

PRUNE_EVERY_SECONDS = 60.0
SHM = Path("/dev/shm")


def shared_pages_for(home: Path, database_url: str, *, max_files: int = 10_000,
                     max_bytes: int = 64 << 20) -> SharedPages | None:
    """The shared page folder of one installation (home + database); None without /dev/shm. The
    folder is made on the first page stored."""
    if not SHM.is_dir():
        return None
    name = hashlib.blake2b(f"{home.resolve()}|{database_url}".encode(), digest_size=8).hexdigest()
    return SharedPages(SHM / f"paperscope-{os.getuid()}-{name}", max_files=max_files, max_bytes=max_bytes)


class SharedPages:
    """Finished responses on disk, readable by every worker; written to a temp name and renamed. The
    folder is kept under `max_files` and `max_bytes` (least recently used out): it lives in RAM."""

    def __init__(self, folder: Path, *, max_files: int = 10_000, max_bytes: int = 64 << 20) -> None:
        self.folder = folder
        self.bounds = BoundedFolder(folder, max_files=max_files, max_bytes=max_bytes)
        self._pruned_at = 0.0
        self._lock = threading.Lock()
        self._usable: bool | None = None

    def usable(self) -> bool:
        """Make the folder (0700) if needed; False when it is not ours alone — another local user who
        could write there could plant pages — or cannot be made. Checked once."""
        if self._usable is None:
            try:
                self.folder.mkdir(mode=0o700, exist_ok=True)
                st = self.folder.lstat()
                self._usable = (stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid()
                                and not st.st_mode & 0o077)
            except OSError:
                self._usable = False
        return self._usable

    def _path(self, key: bytes) -> Path:
        return self.folder / hashlib.blake2b(key, digest_size=16).hexdigest()

    def get(self, key: bytes, valid_after: float) -> tuple[list[tuple[bytes, bytes]], bytes] | None:
        """The headers and body stored for `key`, if rendered after `valid_after` (monotonic clock)."""
        if not self.usable():
            return None
        try:
            raw = self._path(key).read_bytes()
        except OSError:
            return None
        head, sep, body = raw.partition(b"\n")
        if not sep:
            return None
        try:
            meta = orjson.loads(head)
        except orjson.JSONDecodeError:
            return None
        if meta.get("k") != key.decode("latin-1") or meta.get("t", 0.0) <= valid_after:
            return None
        self.bounds.touch(self._path(key))
        return [(n.encode("latin-1"), v.encode("latin-1")) for n, v in meta["h"]], body

    def put(self, key: bytes, rendered_from: float, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        """Store a response whose rendering started at `rendered_from` (monotonic clock)."""
        if not self.usable():
            return
        meta = {"k": key.decode("latin-1"), "t": rendered_from,
                "h": [(n.decode("latin-1"), v.decode("latin-1")) for n, v in headers]}
        path = self._path(key)
        try:  # /dev/shm: no fsync
            write_atomically(path, orjson.dumps(meta) + b"\n" + body, durable=False)
        except OSError:  # a full or read-only disk costs the sharing, never the page
            return
        self.bounds.wrote()

    def prune_soon(self) -> None:
        """After the store changed: delete files written before now, in the background, at most once
        a minute (they can never be valid again)."""
        now = time.time()
        with self._lock:
            if now - self._pruned_at < PRUNE_EVERY_SECONDS:
                return
            self._pruned_at = now
        threading.Thread(target=self._prune, args=(now,), name="paperscope-page-prune", daemon=True).start()

    def _prune(self, before: float) -> None:
        with contextlib.suppress(OSError), os.scandir(self.folder) as entries:
            for entry in entries:
                with contextlib.suppress(OSError):
                    if entry.stat().st_mtime < before - 1.0:
                        os.unlink(entry.path)
