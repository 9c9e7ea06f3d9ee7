"""How a digest's body is kept in the outbox: zlib-compressed on SQLite.

A run stores every digest (~22 KB) before sending it. On SQLite that write holds the database's single
write lock, and each sender's per-message commit waits for it, so storing fewer bytes keeps the SMTP
sessions moving while digests are still being composed. zlib level 1: digests repeat their markup and
shrink to about a fifth for about 0.3 ms. PostgreSQL writers do not wait for each other that way, and
it compresses large values itself (TOAST), so there bodies are stored as they are.

A stored body starts with `_MARK`, which no RFC 5322 message can start with (a NUL byte), so bodies
stored as they are — by earlier versions, or confirmation mails, which are small — still send unchanged.
"""

from __future__ import annotations

import zlib

_MARK = b"\x00zlib\x00"
LEVEL = 1


def compresses(dialect: str) -> bool:
    """Whether digests are stored compressed in a database of this SQLAlchemy dialect."""
    return dialect == "sqlite"


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
