"""The polite HTTP client against a real local server: spacing, Retry-After, retries, failures."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from paperscope.sources.http import PoliteClient, SourceError, parse_retry_after
from tests.httpfixture import Reply, ScriptedServer, scripted_server


@pytest.fixture
def http_server() -> Iterator[ScriptedServer]:
    with scripted_server() as server:
        yield server


def client(interval: float = 0.0, **kw: float) -> PoliteClient:
    return PoliteClient(interval=interval, user_agent="paperscope-test/1", backoff=0.05, **kw)  # type: ignore[arg-type]


def test_requests_are_spaced_by_the_interval(http_server: ScriptedServer) -> None:
    http_server.play(*[Reply(b"ok")] * 4)
    with client(interval=0.2) as c:
        for _ in range(4):
            assert c.get(http_server.url + "/x").status_code == 200
    gaps = http_server.gaps()
    assert len(gaps) == 3 and min(gaps) >= 0.2, gaps
    assert http_server.requests[0].headers["User-Agent"] == "paperscope-test/1"


def test_503_with_retry_after_is_waited_out(http_server: ScriptedServer) -> None:
    http_server.play(Reply(b"busy", 503, headers={"Retry-After": "1"}), Reply(b"fine"))
    with client() as c:
        response = c.get(http_server.url + "/oai", params={"verb": "ListRecords"})
    assert response.text == "fine"
    assert len(http_server.requests) == 2 and http_server.gaps()[0] >= 1.0
    assert http_server.requests[1].params == {"verb": "ListRecords"}  # same request repeated


def test_body_cut_short_is_fetched_again(http_server: ScriptedServer) -> None:
    body = b"<x>" + b"a" * 5000 + b"</x>"
    http_server.play(Reply(body, cut_at=100), Reply(body))
    with client() as c:
        assert c.get(http_server.url + "/x").content == body
    assert len(http_server.requests) == 2


def test_persistent_overload_gives_a_clear_error(http_server: ScriptedServer) -> None:
    http_server.play(*[Reply(b"busy", 503)] * 3)
    with client(max_retries=2) as c, pytest.raises(SourceError, match="HTTP 503 after 3 attempts"):
        c.get(http_server.url + "/oai")


def test_absurd_retry_after_is_not_obeyed(http_server: ScriptedServer) -> None:
    http_server.play(Reply(b"busy", 503, headers={"Retry-After": "86400"}))
    start = time.monotonic()
    with client(max_wait=60) as c, pytest.raises(SourceError, match="wait 86400s"):
        c.get(http_server.url + "/oai")
    assert time.monotonic() - start < 5


def test_client_errors_are_returned_not_retried(http_server: ScriptedServer) -> None:
    http_server.play(Reply(b"no", 404))
    with client() as c:
        assert c.get(http_server.url + "/x").status_code == 404
    assert len(http_server.requests) == 1


def test_unreachable_server_is_a_clear_error() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with client(max_retries=1) as c, pytest.raises(SourceError, match=f"cannot fetch http://127.0.0.1:{port}"):
        c.get(f"http://127.0.0.1:{port}/oai")


def test_retry_after_formats() -> None:
    now = datetime(2026, 11, 21, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after("Sat, 21 Nov 2026 12:00:30 GMT", now) == 30.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None
