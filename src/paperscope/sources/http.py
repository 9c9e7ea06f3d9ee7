"""A polite HTTP client shared by the network sources.

arXiv asks for at most one request every three seconds and answers overload with
`503 Retry-After`; Hugging Face rate-limits with 429. One `PoliteClient` keeps one connection per
host, spaces its requests by `interval` seconds (measured from the end of the previous response, so
the server never sees two requests closer together than that), honours Retry-After, and retries
transient transport failures a few times before giving up with a `SourceError` that says what failed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx
from lxml import etree

# Statuses that mean "try again later" rather than "your request is wrong".
_RETRY_STATUSES = {429, 500, 502, 503, 504}


class SourceError(Exception):
    """A network source could not deliver: unreachable, refusing, or sending something unreadable."""


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date); None if unusable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class PoliteClient:
    """An httpx client that waits `interval` seconds between requests and retries what is worth retrying.

    `max_retries` bounds how often one request is repeated (503/429/5xx and transport errors);
    `max_wait` caps any single Retry-After so a misbehaving server cannot park us for hours.
    """

    def __init__(
        self,
        *,
        interval: float,
        user_agent: str,
        timeout: float = 60.0,
        max_retries: int = 4,
        max_wait: float = 600.0,
        backoff: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
        on_retry: Callable[[str], None] | None = None,
    ) -> None:
        self.interval = max(0.0, interval)
        self.on_retry = on_retry  # told why and how long before each retry (the CLI prints it)
        self.max_retries = max_retries
        self.max_wait = max_wait
        self.backoff = backoff
        self._sleep = sleep
        self._last_done: float | None = None
        self.requests_made = 0
        self._client = httpx.Client(
            headers={"User-Agent": user_agent}, timeout=timeout, follow_redirects=True,
        )

    def __enter__(self) -> PoliteClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the underlying connections."""
        self._client.close()

    def _wait_turn(self, at_least: float = 0.0) -> None:
        due = 0.0
        if self._last_done is not None:
            due = self._last_done + self.interval - time.monotonic()
        delay = max(due, at_least)
        if delay > 0:
            self._sleep(delay)

    def _tell(self, reason: str, wait: float, attempt: int) -> None:
        if self.on_retry is not None:
            wait = max(wait, self.interval)
            self.on_retry(f"{reason}; trying again in {wait:.0f}s (attempt {attempt + 2} of "
                          f"{self.max_retries + 1})")

    def get(self, url: str, params: Mapping[str, str | int] | None = None,
            headers: Mapping[str, str] | None = None) -> httpx.Response:
        """GET `url` politely; return a 2xx/4xx response with its body read, or raise SourceError.

        Retried: 429/5xx (waiting Retry-After when given, else an exponential backoff) and transport
        errors, including a body cut short. Not retried: other 4xx, which the caller interprets.
        """
        return self.send("GET", url, params=params, headers=headers)

    def send(self, method: str, url: str, params: Mapping[str, str | int] | None = None,
             headers: Mapping[str, str] | None = None, json: object = None) -> httpx.Response:
        """Any request, with `get`'s spacing and retries. A write is only retried when the caller made it
        safe to repeat (e.g. Zotero's Zotero-Write-Token header)."""
        where = url if not params else f"{url}?{httpx.QueryParams(params)}"
        extra_wait = 0.0
        for attempt in range(self.max_retries + 1):
            self._wait_turn(extra_wait)
            last_try = attempt == self.max_retries
            self.requests_made += 1
            try:
                response = self._client.request(method, url, params=params, headers=headers, json=json)
                response.read()
            except httpx.HTTPError as exc:
                # A server that cannot be reached at all (no network, no such host, nothing
                # listening) is tried once more, not max_retries times: waiting ~20 s in silence
                # before saying "offline" helps nobody.
                unreachable = isinstance(exc, httpx.ConnectError) and attempt >= 1
                if last_try or unreachable:
                    raise SourceError(f"cannot fetch {where}: {type(exc).__name__}: {exc}") from exc
                extra_wait = self.backoff * 2 ** attempt
                self._tell(f"{type(exc).__name__}: {exc}", extra_wait, attempt)
                continue
            finally:
                self._last_done = time.monotonic()
            if response.status_code not in _RETRY_STATUSES:
                return response
            if last_try:
                break
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            if retry_after is not None and retry_after > self.max_wait:
                raise SourceError(f"{where}: server asks to wait {retry_after:.0f}s (HTTP "
                                  f"{response.status_code}); try again later")
            extra_wait = retry_after if retry_after is not None else self.backoff * 2 ** attempt
            self._tell(f"HTTP {response.status_code}", extra_wait, attempt)
        raise SourceError(f"{where}: HTTP {response.status_code} after {self.max_retries + 1} attempts")


# Feeds come from the network: never resolve entities or fetch anything they point at.
_XML_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)


def parse_xml(body: bytes, where: str, root_tag: str, kind: str) -> etree._Element:
    """Parse a response body and check its root element; SourceError (naming `where`) otherwise."""
    try:
        root = etree.fromstring(body, _XML_PARSER)
    except etree.XMLSyntaxError as exc:
        raise SourceError(f"malformed XML from {where}: {exc}") from exc
    if root.tag != root_tag:
        raise SourceError(f"{where}: not {kind} (root element {root.tag})")
    return root
