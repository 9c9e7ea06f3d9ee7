"""An in-process cache of finished anonymous GET responses, invalidated by the store's write version.

Rendering a paper page costs four queries and a template (a few ms); answering from memory costs
a dictionary lookup. Under load that difference is the whole latency budget, so anonymous pages are
kept as finished bytes:

- Only requests without a cookie or an Authorization header are served from (or stored in) the cache:
  anything that may identify a viewer — and so carry their vote state — always gets a fresh page.
  Only 200 responses that set no cookie are stored.
- Every entry belongs to one store version (`store.version.StoreVersion`: it changes whenever any
  process commits a write — a vote, a comment, a hide, an ingest). When it changes, everything cached
  is dropped, so a page is never older than the data it shows (give or take the 2 ms between two looks
  at the version of a busy worker).
- Pages that depend only on the store ("stable": the feed, paper pages and their JSON twins) therefore
  stay cached for `stable_ttl` (an hour); the others (search — it also depends on the vector indexes
  —, trending, Atom feeds, similar papers) for `ttl` seconds.
- Cached responses carry an ETag; a browser revalidating with If-None-Match gets a 304 without a body.
  `Vary: Cookie, Authorization` keeps shared caches from handing the anonymous page to a signed-in user.

Each worker process has its own cache; they agree because they read the same store version. A
stable page one worker rendered is also written to disk (`shared_cache.py`) for the others to reuse.

Anyone can send distinct query strings, so the key is built from the query parameters some route
declares (in a canonical order); a request carrying any other parameter is answered fresh and not
kept. Both layers are bounded in bytes and entries, least recently used out.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from paperscope.web.shared_cache import SharedPages

MAX_ENTRY_BYTES = 4 << 20  # bigger responses stream through uncached


@dataclass(frozen=True)
class CachedResponse:
    expires: float
    headers: list[tuple[bytes, bytes]]
    body: bytes
    etag: bytes


def is_stable(path: str) -> bool:
    """Pages that change only when the store does (feed, paper pages, their JSON twins)."""
    if path == "/" or path.startswith("/api/daily_papers"):
        return True
    if path.endswith("/similar"):  # depends on the vector indexes too
        return False
    return path.startswith("/papers/") or (path.startswith("/api/papers/")
                                           and not path.startswith("/api/papers/search"))


class ResponseCache:
    """LRU of finished responses (bounded in bytes), keyed by path, query string and JSON-or-not.

    `version` returns the store's write version; entries from another version are never served.
    `ttl_seconds <= 0` turns the cache off.
    """

    def __init__(self, ttl_seconds: float = 30.0, *, stable_ttl_seconds: float = 3600.0,
                 max_bytes: int = 128 << 20, max_entries: int = 100_000,
                 version: Callable[[], str] | None = None, shared: SharedPages | None = None,
                 version_interval: float = 0.002) -> None:
        self.ttl = ttl_seconds
        self.stable_ttl = max(stable_ttl_seconds, ttl_seconds)
        self.max_bytes = max_bytes
        self.max_entries = max_entries
        self._version = version
        self._seen: str | None = None
        self.shared = shared if version is not None else None  # sharing needs the version check
        self.changed_at = 0.0  # monotonic time this process last saw the store change
        # Asking the store costs about as much as serving a cached page, so a busy worker asks at most
        # every couple of milliseconds: an anonymous page may trail a write by that long (signed-in
        # viewers never get cached pages, so their own votes always show).
        self.version_interval = version_interval
        self._checked_at = float("-inf")
        self._bytes = 0
        self._entries: OrderedDict[bytes, CachedResponse] = OrderedDict()

    @property
    def enabled(self) -> bool:
        return self.ttl > 0

    def sync_version(self) -> str | None:
        """Read the store version; drop everything when it moved. Returns the version entries now carry."""
        if self._version is None:
            return None
        now = time.monotonic()
        if now - self._checked_at < self.version_interval:
            return self._seen
        current = self._version()
        if current != self._seen:
            self.clear()
            self.changed_at = time.monotonic()
            if self.shared is not None and self._seen is not None:
                self.shared.prune_soon()
            self._seen = current
        self._checked_at = now
        return current

    def get(self, key: bytes) -> CachedResponse | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.expires < time.monotonic():
            self._drop(key)
            return None
        self._entries.move_to_end(key)
        return entry

    def put(self, key: bytes, headers: list[tuple[bytes, bytes]], body: bytes, *,
            stable: bool = False) -> CachedResponse:
        """Store a finished 200 response; returns it with the ETag and caching headers added."""
        etag = b'"' + hashlib.blake2b(body, digest_size=12).hexdigest().encode() + b'"'
        names = {n.lower() for n, _ in headers}
        extra = [(b"etag", etag), (b"vary", b"Cookie, Authorization")]
        if b"cache-control" not in names:
            # Browsers may keep the page but must revalidate (a cheap 304) before showing it again.
            extra.append((b"cache-control", b"no-cache"))
        merged = [(n, v) for n, v in headers if n.lower() not in (b"etag", b"vary")] + extra
        ttl = self.stable_ttl if stable else self.ttl
        entry = CachedResponse(time.monotonic() + ttl, merged, body, etag)
        self._drop(key)
        self._entries[key] = entry
        self._bytes += len(body)
        while self._entries and (self._bytes > self.max_bytes or len(self._entries) > self.max_entries):
            oldest = next(iter(self._entries))
            self._drop(oldest)
        return entry

    def _drop(self, key: bytes) -> None:
        old = self._entries.pop(key, None)
        if old is not None:
            self._bytes -= len(old.body)

    def clear(self) -> None:
        """Forget everything (writes also do this through the store version)."""
        self._entries.clear()
        self._checked_at = float("-inf")  # and look at the store again on the next request
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._entries)


def _matches(if_none_match: bytes | None, etag: bytes) -> bool:
    if not if_none_match:
        return False
    if if_none_match.strip() == b"*":
        return True
    return any(tag.strip().removeprefix(b"W/") == etag for tag in if_none_match.split(b","))


def _not_modified(entry: CachedResponse) -> Message:
    keep = (b"etag", b"vary", b"cache-control")
    return {"type": "http.response.start", "status": 304,
            "headers": [(n, v) for n, v in entry.headers if n in keep]}


def declared_query_params(routes: Iterable[Any]) -> frozenset[str]:
    """Every query parameter name some route (or a dependency of one) declares, plus `format`."""
    names = {"format"}
    pending: list[Any] = []
    routes_left = list(routes)
    while routes_left:
        route = routes_left.pop()
        if (dependant := getattr(route, "dependant", None)) is not None:
            pending.append(dependant)
        elif (included := getattr(route, "original_router", None)) is not None:
            routes_left.extend(included.routes)  # FastAPI keeps an included router as one branch
        else:
            routes_left.extend(getattr(route, "routes", ()))  # mounts
    while pending:
        dependant = pending.pop()
        names.update(field.alias for field in dependant.query_params)
        pending.extend(dependant.dependencies)
    return frozenset(names)


def _param_name(part: bytes) -> bytes:
    return part.partition(b"=")[0]


def canonical_query(query_string: bytes, known: frozenset[str]) -> bytes | None:
    """The query string with its parameters in name order (repeats keep their order: the last one
    wins), or None when it names a parameter no route declares."""
    if not query_string:
        return b""
    # Fast path (every link the site itself makes): plain names, all declared; only the order may change.
    parts = query_string.split(b"&")
    names = [_param_name(part) for part in parts]
    if all(name.decode("latin-1") in known for name in names):
        if all(a <= b for a, b in zip(names, names[1:], strict=False)):
            return query_string
        ordered: list[bytes] = sorted(parts, key=_param_name)
        return b"&".join(ordered)
    pairs = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True, encoding="latin-1")
    if any(name not in known for name, _ in pairs):
        return None
    return urlencode(sorted(pairs, key=lambda pair: pair[0]), encoding="latin-1").encode("latin-1")


class ResponseCacheMiddleware:
    """ASGI middleware serving cached responses for anonymous GET requests to the given path prefixes."""

    def __init__(self, app: ASGIApp, cache: ResponseCache, prefixes: tuple[str, ...]) -> None:
        self.app = app
        self.cache = cache
        self.prefixes = prefixes
        self._known: frozenset[str] | None = None  # read from the app's routes on the first request

    def _key(self, scope: Scope) -> tuple[bytes, bytes | None] | None:
        """(cache key, If-None-Match) for a cacheable request, else None."""
        if scope["type"] != "http" or scope["method"] != "GET" or not self.cache.enabled:
            return None
        path: str = scope["path"]
        if not (path == "/" or path.startswith(self.prefixes)):
            return None
        accept = b""
        inm: bytes | None = None
        for name, value in scope["headers"]:
            if name == b"cookie" or name == b"authorization":
                return None  # may be signed in: personalised, never shared
            if name == b"accept":
                accept = b"j" if value.startswith(b"application/json") else b""
            elif name == b"if-none-match":
                inm = value
        if self._known is None:
            self._known = declared_query_params(getattr(scope.get("app"), "routes", ()))
        query = canonical_query(scope["query_string"], self._known)
        if query is None:
            return None  # an undeclared parameter: answered fresh, never stored
        return path.encode() + b"?" + query + b"#" + accept, inm

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = self._key(scope)
        if found is None:
            await self.app(scope, receive, send)
            return
        key, inm = found
        version = self.cache.sync_version()
        rendered_from = time.monotonic()  # the page read below will include every commit before this
        hit = self.cache.get(key)
        stable = is_stable(scope["path"])
        if hit is None and stable and self.cache.shared is not None:
            found_shared = self.cache.shared.get(key, valid_after=self.cache.changed_at)
            if found_shared is not None:
                hit = self.cache.put(key, found_shared[0], found_shared[1], stable=True)
        if hit is not None:
            if _matches(inm, hit.etag):
                await send(_not_modified(hit))
                await send({"type": "http.response.body", "body": b""})
                return
            await send({"type": "http.response.start", "status": 200, "headers": hit.headers})
            await send({"type": "http.response.body", "body": hit.body})
            return
        await self._fill(scope, receive, send, key, inm, version, rendered_from if stable else None)

    async def _fill(self, scope: Scope, receive: Receive, send: Send, key: bytes, inm: bytes | None,
                    version: str | None, share_from: float | None) -> None:
        """Run the app; hold a cacheable response until it is complete, store it, then send it."""
        held: Message | None = None
        chunks: list[bytes] = []
        size = 0

        async def flush() -> None:
            nonlocal held
            if held is not None:
                await send(held)
                held = None
                for chunk in chunks:
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                chunks.clear()

        async def capture(message: Message) -> None:
            nonlocal held, size
            if message["type"] == "http.response.start":
                headers = message.get("headers", [])
                if message["status"] == 200 and not any(n.lower() == b"set-cookie" for n, _ in headers):
                    held = message
                    return
                await send(message)
                return
            if message["type"] != "http.response.body" or held is None:
                await send(message)
                return
            body = message.get("body", b"")
            size += len(body)
            if size > MAX_ENTRY_BYTES:
                await flush()
                await send(message)
                return
            chunks.append(body)
            if message.get("more_body", False):
                return
            start, whole = held, b"".join(chunks)
            held = None
            chunks.clear()
            # A write that committed while this page was rendering may or may not be in it: keep it
            # only if the store version is still the one read before rendering.
            if self.cache.sync_version() != version:
                await send(start)
                await send({"type": "http.response.body", "body": whole})
                return
            entry = self.cache.put(key, list(start.get("headers", [])), whole, stable=share_from is not None)
            if share_from is not None and self.cache.shared is not None:
                self.cache.shared.put(key, share_from, entry.headers, whole)
            if _matches(inm, entry.etag):
                await send(_not_modified(entry))
                await send({"type": "http.response.body", "body": b""})
                return
            await send({**start, "headers": entry.headers})
            await send({"type": "http.response.body", "body": whole})

        await self.app(scope, receive, capture)
        await flush()  # a response that ended without a final body message
