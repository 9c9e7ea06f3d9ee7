"""A small in-process cache of rendered anonymous GET responses.

Feed, paper and API pages only change when an ingest runs, yet rendering one costs a few database
queries and a template. Caching the finished bytes for a short time (default 30 s) lets a busy server
answer repeat requests without touching the store. Requests that carry a cookie are never cached (they
may be personalised), nor are non-200 responses or responses that set cookies.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send


@dataclass(frozen=True)
class CachedResponse:
    expires: float
    headers: list[tuple[bytes, bytes]]
    body: bytes


class ResponseCache:
    """LRU of finished responses, keyed by path, query string and whether JSON was asked for."""

    def __init__(self, ttl_seconds: float = 30.0, max_entries: int = 2000) -> None:
        self.ttl = ttl_seconds
        self.max_entries = max_entries
        self._entries: OrderedDict[bytes, CachedResponse] = OrderedDict()

    def get(self, key: bytes) -> CachedResponse | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.expires < time.monotonic():
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return entry

    def put(self, key: bytes, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        self._entries[key] = CachedResponse(time.monotonic() + self.ttl, headers, body)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        """Forget everything (call after writes that change what pages show)."""
        self._entries.clear()


class ResponseCacheMiddleware:
    """ASGI middleware serving cached responses for GET requests to the given path prefixes."""

    def __init__(self, app: ASGIApp, cache: ResponseCache, prefixes: tuple[str, ...]) -> None:
        self.app = app
        self.cache = cache
        self.prefixes = prefixes

    def _key(self, scope: Scope) -> bytes | None:
        if scope["type"] != "http" or scope["method"] != "GET" or self.cache.ttl <= 0:
            return None
        path: str = scope["path"]
        if not (path == "/" or path.startswith(self.prefixes)):
            return None
        accept = b""
        for name, value in scope["headers"]:
            if name == b"cookie":
                return None
            if name == b"accept":
                accept = b"j" if value.startswith(b"application/json") else b""
        return path.encode() + b"?" + scope["query_string"] + b"#" + accept

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        key = self._key(scope)
        if key is None:
            await self.app(scope, receive, send)
            return
        hit = self.cache.get(key)
        if hit is not None:
            await send({"type": "http.response.start", "status": 200, "headers": hit.headers})
            await send({"type": "http.response.body", "body": hit.body})
            return
        start: Message = {}
        chunks: list[bytes] = []
        cacheable = True

        async def capture(message: Message) -> None:
            nonlocal start, cacheable
            if message["type"] == "http.response.start":
                start = message
                headers = message.get("headers", [])
                if message["status"] != 200 or any(n == b"set-cookie" for n, _ in headers):
                    cacheable = False
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False) and cacheable and start:
                    self.cache.put(key, list(start.get("headers", [])), b"".join(chunks))
            await send(message)

        await self.app(scope, receive, capture)
