"""Bulk JSONL snapshots: the Kaggle arXiv metadata dump and paperscope's compact export format.

Streams line by line (constant memory); gzip is detected from the file's first bytes.
"""

from __future__ import annotations

import gzip
import multiprocessing
import os
import pickle
import queue
import zlib
from collections.abc import Iterator
from datetime import date
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from paperscope.model import Paper, Skipped, checked_paper, clean_categories, clean_text, parse_arxiv_id
from paperscope.sources.http import SourceError

# Records per message from the parsing process: large enough that pickling overhead is small,
# small enough that the writer starts at once and memory stays flat.
_CHUNK = 500
_QUEUE_CHUNKS = 8


class JsonlSource:
    """Papers from one JSONL file (optionally gzipped). Iterate it; `bytes_read` tracks progress.

    With `parallel=True` the file is read and parsed in a child process and the records arrive in
    file order: on a bulk load, parsing then overlaps the store's writes instead of adding to them.
    """

    def __init__(self, path: str | Path, limit: int | None = None, parallel: bool = False) -> None:
        self.path = Path(path)
        self.limit = limit
        self.parallel = parallel
        self.total_bytes = self.path.stat().st_size
        self._raw: BinaryIO | None = None
        self._child_pos: int | None = None
        self._lines = 0  # whole lines read so far

    @property
    def bytes_read(self) -> int:
        """How far into the file (compressed bytes) reading has got."""
        if self._child_pos is not None:
            return self._child_pos
        raw = self._raw
        try:
            return raw.tell() if raw and not raw.closed else self.total_bytes
        except (OSError, ValueError):
            return 0

    def __iter__(self) -> Iterator[Paper | Skipped]:
        if self.parallel:
            yield from self._from_child()
            return
        with open(self.path, "rb") as raw:
            self._raw = raw
            magic = raw.read(2)
            raw.seek(0)
            # GzipFile buffers in small reads: a truncated file still yields every whole line before the cut.
            stream: BinaryIO = gzip.GzipFile(fileobj=raw) if magic == b"\x1f\x8b" else raw  # type: ignore[assignment]
            try:
                yield from self._records(stream)
            except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
                # Every whole line before the cut has been handed on (and will be stored); the run
                # then fails as a source does, so a cron job notices the damaged file.
                raise SourceError(f"{self.path.name} ends early after line {self._lines}: every complete "
                                  f"line before it was read ({exc or type(exc).__name__})") from None

    def _from_child(self) -> Iterator[Paper | Skipped]:
        # forkserver, not fork: a process with threads (a web server, an encoder's thread pool) forked
        # while one of them held a lock gives a child that waits on that lock forever (seen in the test
        # suite); the fork server is a fresh single-threaded process, started once (~0.1 s).
        ctx: multiprocessing.context.ForkServerContext | multiprocessing.context.SpawnContext
        if "forkserver" in multiprocessing.get_all_start_methods():
            ctx = multiprocessing.get_context("forkserver")
        else:  # pragma: no cover - platforms without fork
            ctx = multiprocessing.get_context("spawn")
        chunks = ctx.Queue(maxsize=_QUEUE_CHUNKS)
        child = ctx.Process(target=_parse_in_child, args=(self.path, self.limit, chunks, os.getpid()),
                            name="paperscope-jsonl", daemon=True)
        child.start()
        self._child_pos = 0
        try:
            while True:
                try:
                    kind, payload, pos = chunks.get(timeout=1.0)
                except queue.Empty:
                    if not child.is_alive() and chunks.empty():
                        raise OSError(f"the process reading {self.path.name} stopped "
                                      f"(exit code {child.exitcode})") from None
                    continue
                if kind == "records":
                    yield from payload
                    self._child_pos = pos
                elif kind == "error":
                    raise payload
                else:
                    return
        finally:
            self._child_pos = None
            if child.is_alive():
                child.terminate()
            child.join(timeout=5)
            chunks.close()
            chunks.cancel_join_thread()

    def _records(self, lines: BinaryIO) -> Iterator[Paper | Skipped]:
        papers = 0
        for lineno, line in enumerate(lines, 1):
            self._lines = lineno
            if self.limit is not None and papers >= self.limit:
                return
            if not line.strip():
                continue
            where = f"{self.path.name}:{lineno}"
            try:
                obj = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                yield Skipped(where, f"invalid JSON ({exc})")
                continue
            except EOFError:  # pragma: no cover - truncated gzip surfaces below
                return
            try:
                yield parse_record(obj)
                papers += 1
            except (ValueError, TypeError, KeyError, OverflowError) as exc:
                yield Skipped(where, str(exc))


def _alive(pid: int) -> bool:
    """Whether process `pid` still runs. (Not `os.getppid() != pid`: under a fork server our parent is the
    fork server, never the reader, and that check gave up on the first full queue, mid-message, leaving a
    slow reader waiting forever for the rest. Nor the fork server exiting: it lives while we do.)"""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - a pid reused by another user's process
        return False
    return True


def _parse_in_child(path: Path, limit: int | None, chunks: Any, parent: int) -> None:
    """Child process body: parse the file and send the records in order, a chunk at a time."""
    source = JsonlSource(path, limit)

    def send(item: tuple[str, object, int]) -> bool:
        # A bounded queue keeps memory flat; if the parent is killed (kill -9) nobody reads any more,
        # so give up once it is gone instead of waiting forever.
        while True:
            try:
                chunks.put(item, timeout=1.0)
                return True
            except queue.Full:
                if not _alive(parent):
                    # Nothing will read what is still buffered: exit without waiting to flush it.
                    chunks.cancel_join_thread()
                    return False

    buf: list[Paper | Skipped] = []
    try:
        for rec in source:
            buf.append(rec)
            if len(buf) >= _CHUNK:
                if not send(("records", buf, source.bytes_read)):
                    return
                buf = []
    except Exception as exc:  # noqa: BLE001 - handed to the parent, which raises it where reading stopped
        try:
            pickle.dumps(exc)
        except Exception:  # noqa: BLE001 - an exception that cannot cross processes becomes its message
            exc = OSError(f"{type(exc).__name__}: {exc}")
        if send(("records", buf, source.bytes_read)):
            send(("error", exc, source.bytes_read))
        return
    if send(("records", buf, source.total_bytes)):
        send(("end", None, source.total_bytes))


def read_jsonl(path: str | Path, limit: int | None = None) -> Iterator[Paper | Skipped]:
    """Yield papers (and Skipped notes for bad lines) from a JSONL snapshot; a truncated gzip
    ends the stream with a Skipped note instead of an exception."""
    src = JsonlSource(path, limit)
    try:
        yield from src
    except (EOFError, OSError, gzip.BadGzipFile, SourceError) as exc:
        yield Skipped(str(path), f"file ends early or is corrupt: {exc}")


def _str(obj: dict[str, Any], key: str) -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"field {key!r} should be a string, got {type(value).__name__}")
    return clean_text(value) or None


def _kaggle_date(text: str) -> date:
    return parsedate_to_datetime(text).date()


def _authors(obj: dict[str, Any]) -> tuple[str, ...]:
    parsed = obj.get("authors_parsed")
    if isinstance(parsed, list) and parsed:
        names = []
        for part in parsed:
            if not isinstance(part, list) or not part:
                raise TypeError("authors_parsed entries should be lists")
            last, first, suffix = (list(part) + ["", ""])[:3]
            names.append(clean_text(" ".join(p for p in (first, last, suffix) if p)))
        return tuple(n for n in names if n)
    authors = obj.get("authors")
    if authors is None:
        return ()
    if isinstance(authors, list):
        if not all(isinstance(a, str) for a in authors):
            raise TypeError("authors should be a list of strings")
        return tuple(clean_text(a) for a in authors if a.strip())
    if isinstance(authors, str):
        text = clean_text(authors).replace(" and ", ", ")
        return tuple(a.strip() for a in text.split(",") if a.strip())
    raise TypeError(f"authors should be a list or a string, got {type(authors).__name__}")


def _categories(obj: dict[str, Any]) -> tuple[str, ...]:
    cats = obj.get("categories")
    if cats is None:
        return ()
    if isinstance(cats, str):
        cats = cats.split()
    if not isinstance(cats, list) or not all(isinstance(c, str) for c in cats):
        raise TypeError("categories should be a list of strings or a space-separated string")
    return clean_categories(cats)


def parse_record(obj: Any) -> Paper:
    """Turn one decoded JSON object (Kaggle or compact format) into a Paper; ValueError if unusable."""
    if not isinstance(obj, dict):
        raise TypeError(f"expected a JSON object, got {type(obj).__name__}")
    raw_id = obj.get("id")
    if not isinstance(raw_id, str) or not raw_id.strip():
        raise ValueError("missing arXiv id")
    arxiv_id, version = parse_arxiv_id(raw_id)
    title = _str(obj, "title")
    if not title:
        raise ValueError("missing title")
    published = updated = listed = None
    versions = obj.get("versions")
    if isinstance(versions, list) and versions:
        try:
            published = _kaggle_date(versions[0]["created"])
            updated = _kaggle_date(versions[-1]["created"])
            version = version or int(str(versions[-1]["version"]).lstrip("v"))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"unreadable versions field: {exc}") from exc
    if obj.get("update_date"):
        updated = date.fromisoformat(str(obj["update_date"]))
    if obj.get("listed"):
        listed = date.fromisoformat(str(obj["listed"]))
    elif published:
        # The Kaggle dump has no announcement date; the first version's date is the closest we know.
        listed = published
    return checked_paper(Paper(
        arxiv_id=arxiv_id,
        version=version,
        title=title,
        abstract=_str(obj, "abstract") or "",
        authors=_authors(obj),
        categories=_categories(obj),
        published=published or listed,
        updated=updated,
        listed=listed,
        doi=_str(obj, "doi"),
        journal_ref=_str(obj, "journal-ref") or _str(obj, "journal_ref"),
        comments=_str(obj, "comments"),
        license=_str(obj, "license"),
        source="jsonl",
    ))
