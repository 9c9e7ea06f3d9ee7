"""Password hashing: the one argon2id setup (web and CLI), and the hash unknown names are checked against."""

from __future__ import annotations

import secrets
import threading

from argon2 import PasswordHasher


def password_hasher() -> PasswordHasher:
    """The one password hashing setup (web and CLI): argon2id with OWASP's recommended minimum
    (19 MiB, 2 passes, 1 lane). argon2-cffi's default (64 MiB, 3 passes, 4 lanes) costs about a second
    of CPU per sign-in on a small 2-core server, which would itself be a denial-of-service lever."""
    return PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)


class DummyHash:
    """The hash of a random password, verified against for unknown names (see `security.dummy_verify`).
    Made on first use rather than when the app is built: a hash costs as much CPU as a sign-in, and every
    web worker and CLI command builds the app."""

    def __init__(self, hasher: PasswordHasher) -> None:
        self._hasher = hasher
        self._value: str | None = None
        self._lock = threading.Lock()

    def get(self) -> str:
        """The hash, made on the first call."""
        with self._lock:
            if self._value is None:
                self._value = self._hasher.hash(secrets.token_urlsafe(16))
            return self._value
