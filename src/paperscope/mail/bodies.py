"""How a digest's body is kept in the outbox (compression measured, and off: see `compresses`).

The idea: a run stores every digest (~22 KB) before sending it; on SQLite that write holds the
database's single write lock, which each sender's per-message commit waits for, and zlib level 1
shrinks a digest to about a fifth for about 0.3 ms. Measured, the CPU cost about what the shorter
writes saved. PostgreSQL would never need it (writers do not queue on one lock; TOAST compresses).

A stored body starts with `_MARK`, which no RFC 5322 message can start with (a NUL byte), so bodies
stored as they are — by earlier versions, or confirmation mails, which are small — still send unchanged.
"""

from __future__ import annotations

import zlib

_MARK = b"\x00zlib\x00"
LEVEL = 1


def compresses(dialect: str) -> bool:
    """Whether digests are stored compressed in a database of this SQLAlchemy dialect.

    Not at present: in the 10,000-subscriber benchmark on SQLite, compressing cost 1.5-2.5 s of CPU
    per run and gained nothing measurable (quiet machine, 3 interleaved runs each: 319 vs 347
    messages/s median without; with one core busy: 290/270 vs 275/281). Bodies stored compressed
    (by 196bed1 and the commits before it) still send: see `unpack`.
    """
    return False


def pack(raw: bytes) -> bytes:
    """`raw` compressed as the outbox stores it."""
    return _MARK + zlib.compress(raw, LEVEL)


def unpack(stored: bytes) -> bytes:
    """The message a stored body holds (a body stored uncompressed comes back as it is); ValueError if
    the stored body is damaged."""
    if stored.startswith(_MARK):
        try:
            return zlib.decompress(memoryview(stored)[len(_MARK):])
        except zlib.error as exc:
            raise ValueError(f"stored message body is damaged: {exc}") from None
    return stored
