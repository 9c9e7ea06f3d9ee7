"""Files under PAPERSCOPE_HOME are replaced whole: `write_atomically` is the one way to write one.

A reader (another worker, a later run) sees the old file or the new one, never part of either. With
`durable=True` (the default) the data is also on disk before the rename and the rename itself before
the function returns, so a power cut leaves the old file or the new one; caches that any run rebuilds
skip those two fsyncs (`durable=False`), which cost milliseconds on a busy disk.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


def fsync_directory(directory: Path) -> None:
    """Make the entries of `directory` (a rename into it, a new file) durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_file(path: Path) -> None:
    """Flush a written file's data to disk."""
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def write_atomically(path: Path, content: bytes | str | Callable[[Path], object], *, durable: bool = True,
                     mode: int | None = None) -> None:
    """Replace `path` with `content`: bytes, text (UTF-8), or a function that writes the file at the path
    it is given (for libraries that save to a path; the temp path keeps `path`'s suffix).

    The temp file sits beside `path` (same file system, so the rename is atomic) under a name unique to
    this process and thread, and is removed if writing fails. `mode` sets the new file's permissions
    from the start (e.g. 0o600 for a secret, never readable by others even for a moment).
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp{path.suffix}")
    try:
        if callable(content):
            content(tmp)
            if mode is not None:
                os.chmod(tmp, mode)
        else:
            data = content.encode() if isinstance(content, str) else content
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666 if mode is None else mode)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
        if durable:
            fsync_file(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    if durable:
        fsync_directory(path.parent)


@contextmanager
def file_lock(path: Path, *, wait: bool = False) -> Iterator[bool]:
    """Hold an exclusive `flock` on `path` (created 0600): yields True when held, False when another
    process holds it and `wait` is off. The kernel drops it when the holder exits, kill -9 included."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)  # closing the descriptor releases the lock
