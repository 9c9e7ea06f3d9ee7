"""A folder of cache files kept under a number of files and bytes: the least recently used go first.

Used by every on-disk cache that a visitor's requests can grow (rendered pages shared between web
workers, similar-papers lists): without a bound, distinct query strings would each add a file
forever. Readers `touch` what they use, writers call `wrote`; every so many writes a background
thread looks at the whole folder and, when it is over either bound, deletes the oldest-used files
until it is 10 % under.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from pathlib import Path

# Temp files of writes in progress are left alone this long (a crashed writer's are then removed).
_TEMP_GRACE_SECONDS = 60.0


class BoundedFolder:
    """Least-recently-used trimming of the files in `folder` (see the module docstring)."""

    def __init__(self, folder: Path, *, max_files: int, max_bytes: int) -> None:
        self.folder = folder
        self.max_files = max(1, max_files)
        self.max_bytes = max(1, max_bytes)
        self.check_every = max(1, min(64, self.max_files // 16))
        self._writes = self.check_every - 1  # the first write of a process looks at the folder
        self._lock = threading.Lock()

    def touch(self, path: Path) -> None:
        """Mark a file as just used (its modification time orders the trimming)."""
        with contextlib.suppress(OSError):
            os.utime(path)

    def wrote(self, *, background: bool = True) -> None:
        """Count one written file; every `check_every` writes, trim (on a thread unless told not to)."""
        with self._lock:
            self._writes += 1
            if self._writes < self.check_every:
                return
            self._writes = 0
        if background:
            threading.Thread(target=self.trim, name="paperscope-cache-trim", daemon=True).start()
        else:
            self.trim()

    def trim(self) -> int:
        """Delete the oldest-used files while the folder is over a bound; returns how many went."""
        now = time.time()
        entries: list[tuple[float, int, str]] = []
        try:
            with os.scandir(self.folder) as listing:
                for entry in listing:
                    with contextlib.suppress(OSError):
                        st = entry.stat(follow_symlinks=False)
                        if not entry.is_file(follow_symlinks=False):
                            continue
                        if entry.name.startswith(".") and now - st.st_mtime < _TEMP_GRACE_SECONDS:
                            continue  # a write in progress
                        entries.append((st.st_mtime, st.st_size, entry.path))
        except OSError:
            return 0
        count, total = len(entries), sum(size for _, size, _ in entries)
        if count <= self.max_files and total <= self.max_bytes:
            return 0
        keep_files, keep_bytes = self.max_files * 9 // 10, self.max_bytes * 9 // 10
        removed = 0
        for _, size, path in sorted(entries):
            if count <= keep_files and total <= keep_bytes:
                break
            with contextlib.suppress(OSError):
                os.unlink(path)
                removed += 1
            count -= 1
            total -= size
        return removed
