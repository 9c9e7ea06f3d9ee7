"""A real HTTP server on 127.0.0.1 that plays a scripted sequence of responses and records requests.

Each incoming request takes the next `Reply` from the script (whatever its path), so a test states
exactly what the "remote" says, in order, and afterwards inspects what it was asked and when.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

FIXTURES = Path(__file__).parent / "fixtures"


@dataclass
class Reply:
    """One scripted response. `cut_at` sends only that many body bytes (with the full Content-Length)
    and closes the connection, like a transfer that dies halfway."""

    body: bytes = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/xml; charset=utf-8"
    cut_at: int | None = None
    delay: float = 0.0  # seconds to sit on the request before answering (a slow or hung server)

    @classmethod
    def fixture(cls, name: str, **kw: object) -> Reply:
        """A reply whose body is the file tests/fixtures/<name>."""
        ctype = "application/json" if name.endswith(".json") else "application/xml; charset=utf-8"
        kw.setdefault("content_type", ctype)
        return cls(body=(FIXTURES / name).read_bytes(), **kw)  # type: ignore[arg-type]


@dataclass
class Request:
    """What the server received: when (monotonic), the path, query parameters and headers (and for a
    POST, its method and body)."""

    at: float
    path: str
    params: dict[str, str]
    headers: dict[str, str]
    method: str = "GET"
    body: bytes = b""


class ScriptedServer:
    """Serve `script` in order; a request beyond the script gets a 500 (and is still recorded)."""

    def __init__(self) -> None:
        self.script: list[Reply] = []
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.do_GET(method="POST", body=body)

            def do_GET(self, method: str = "GET", body: bytes = b"") -> None:  # noqa: N802
                parts = urlsplit(self.path)
                params = {k: v[-1] for k, v in parse_qs(parts.query).items()}
                with server._lock:
                    server.requests.append(Request(time.monotonic(), parts.path, params, dict(self.headers),
                                                   method, body))
                    reply = server.script.pop(0) if server.script else Reply(b"script exhausted", 500)
                if reply.delay:
                    time.sleep(reply.delay)
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.content_type)
                self.send_header("Content-Length", str(len(reply.body)))
                for k, v in reply.headers.items():
                    self.send_header(k, v)
                if reply.cut_at is not None:
                    self.send_header("Connection", "close")
                self.end_headers()
                if reply.cut_at is not None:
                    self.wfile.write(reply.body[:reply.cut_at])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(reply.body)

            def log_message(self, *args: object) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        # serve_forever checks for shutdown every poll_interval (0.5 s by default): each test's stop()
        # waited for it.
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02},
                                        daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def play(self, *replies: Reply) -> ScriptedServer:
        """Append replies to the script."""
        with self._lock:
            self.script.extend(replies)
        return self

    def gaps(self) -> list[float]:
        """Seconds between consecutive requests as the server saw them."""
        times = [r.at for r in self.requests]
        return [b - a for a, b in zip(times, times[1:], strict=False)]

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@contextmanager
def scripted_server() -> Iterator[ScriptedServer]:
    """A running scripted server on 127.0.0.1, stopped on exit (each test module wraps it in a fixture)."""
    server = ScriptedServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def cli_env(home: Path, db_url: str, server: ScriptedServer, interval: float = 0.0) -> dict[str, str]:
    """Environment for running the `paperscope` CLI against the scripted server and a test database."""
    return {
        "PAPERSCOPE_HOME": str(home),
        "PAPERSCOPE_DATABASE_URL": db_url,
        "PAPERSCOPE_ARXIV_OAI_URL": server.url + "/oai",
        "PAPERSCOPE_ARXIV_API_URL": server.url + "/api/query",
        "PAPERSCOPE_HF_API_URL": server.url,
        "PAPERSCOPE_REQUEST_INTERVAL": str(interval),
    }
