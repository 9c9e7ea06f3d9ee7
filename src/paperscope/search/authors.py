"""Author names that survive accents and initials: "Spärck Jones", "Sparck Jones", "K. Sparck Jones" and
"Karen Spärck Jones" are one person here.

Matching rule (`names_match`): names are folded (NFKD without combining marks, a few letters spelled
out — ß, ø, ł, æ… —, lower case) and split into words at spaces, dots and hyphens. The query's last
words must equal the stored name's last words (the surname, one word at least, never an initial); each
remaining query word must then match a remaining stored word, in order (others may be skipped): equal,
or an initial of it (either way round: "K" matches "Karen", "Karen" matches a stored "K."). "Last, First"
is read as "First Last".

`AuthorDirectory` keeps every stored spelling by its folded last word, with the papers that carry it,
read from the store once and then only the papers added since (by row id), so resolving a name is a
dictionary lookup plus a few comparisons.
"""

from __future__ import annotations

import re
import threading
import time
import unicodedata
from collections import defaultdict

import sqlalchemy as sa

from paperscope.store.authors import author_lists

MAX_NAME = 200  # characters in a name someone asks for
_SPELLED = str.maketrans({"ß": "ss", "ø": "o", "Ø": "o", "ł": "l", "Ł": "l", "æ": "ae", "Æ": "ae",
                          "œ": "oe", "Œ": "oe", "đ": "d", "Đ": "d", "ı": "i", "þ": "th", "ð": "d"})
_WORDS = re.compile(r"[a-z0-9']+")


def fold(text: str) -> str:
    """Lower-case ASCII spelling of a name: accents dropped, ß -> ss, ø -> o and so on."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_SPELLED))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def name_words(name: str) -> list[str]:
    """The folded words of a name, "Last, First" turned round."""
    last, comma, first = name.partition(",")
    if comma and first.strip() and last.strip():
        name = f"{first} {last}"
    return [w.replace("'", "") for w in _WORDS.findall(fold(name)) if w.replace("'", "")]


def _same(a: str, b: str) -> bool:
    return a == b or (len(a) == 1 and b.startswith(a)) or (len(b) == 1 and a.startswith(b))


def words_match(query: list[str], stored: list[str]) -> bool:
    """The rule in the module docstring, on folded words."""
    if not query or not stored or len(query[-1]) < 2:
        return False
    for k in range(min(len(query), len(stored)), 0, -1):
        if query[-k:] != stored[-k:] or any(len(w) < 2 for w in query[-k:]):
            continue
        given, rest = query[:-k], stored[:-k]
        i = 0
        for word in given:
            while i < len(rest) and not _same(word, rest[i]):
                i += 1
            if i == len(rest):
                break
            i += 1
        else:
            return True
    return False


def names_match(query: str, stored: str) -> bool:
    """Whether the stored author name is the person the query names."""
    return words_match(name_words(query), name_words(stored))


class AuthorDirectory:
    """Every stored author spelling by folded last word, with its papers' row ids (kept in step with
    the store by reading only papers added since the last look, at most once per `refresh_seconds`)."""

    def __init__(self, engine: sa.Engine, refresh_seconds: float = 2.0) -> None:
        self._engine = engine
        self._refresh_seconds = refresh_seconds
        self._by_last: dict[str, dict[str, list[int]]] = defaultdict(dict)
        self._last_rowid = 0
        self._checked = 0.0
        self._lock = threading.Lock()

    def _refresh(self) -> None:
        now = time.monotonic()
        if now - self._checked < self._refresh_seconds and self._last_rowid:
            return
        with self._lock:
            if time.monotonic() - self._checked < self._refresh_seconds and self._last_rowid:
                return
            for rowid, names in author_lists(self._engine, self._last_rowid):
                for name in names:
                    words = name_words(name)
                    if words:
                        self._by_last[words[-1]].setdefault(name, []).append(rowid)
                self._last_rowid = max(self._last_rowid, rowid)
            self._checked = time.monotonic()

    def spellings(self, query: str) -> dict[str, list[int]]:
        """The stored spellings that name the queried person, each with its papers' row ids."""
        words = name_words(query[:MAX_NAME])
        if not words:
            return {}
        self._refresh()
        candidates = self._by_last.get(words[-1], {})
        return {name: list(rowids) for name, rowids in list(candidates.items())
                if words_match(words, name_words(name))}

    def papers(self, query: str) -> list[int]:
        """Row ids of the queried person's papers, newest row first."""
        found = {r for rowids in self.spellings(query).values() for r in rowids}
        return sorted(found, reverse=True)
