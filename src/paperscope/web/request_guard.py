"""Requests are checked before any route sees them: a body larger than the configured cap gets a 413
(by Content-Length, or counted while a chunked body streams in — never held whole in memory beyond
the cap), and a NUL character anywhere in the path, query string or body gets a 400 (PostgreSQL
cannot store one, and no form or API field has a use for it)."""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

ErrorPage = Callable[[Request, int, str], Response]


def json_has_nul(body: bytes) -> bool:
    """True if a JSON text holds a NUL: raw, or as a `\\u0000` escape whose backslash is not itself
    escaped (`\\\\u0000` is the harmless text `\\u0000`)."""
    if b"\x00" in body:
        return True
    start = 0
    while (at := body.find(b"\\u0000", start)) >= 0:
        first = at
        while first > 0 and body[first - 1] == 0x5C:
            first -= 1
        if (at - first) % 2 == 0:
            return True
        start = at + 1
    return False


def _body_has_nul(content_type: bytes, body: bytes) -> bool:
    if content_type.startswith(b"application/x-www-form-urlencoded"):
        return b"%00" in body or b"\x00" in body
    if b"json" in content_type:
        return json_has_nul(body)
    return b"\x00" in body  # multipart (a BibTeX upload is text) and anything else


class RequestGuardMiddleware:
    """413 for bodies over `max_body` bytes (`max_upload` for multipart/form-data uploads and the
    `upload_paths` that take a file as the raw body); 400 for NUL characters in the path, query string
    or body. Error pages come from `error` (HTML or JSON, as the app's own errors)."""

    def __init__(self, app: ASGIApp, *, max_body: int, max_upload: int, error: ErrorPage,
                 upload_paths: frozenset[str] = frozenset()) -> None:
        self.app = app
        self.max_body = max_body
        self.max_upload = max_upload
        self.upload_paths = upload_paths
        self.error = error

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, status: int, message: str) -> None:
        response = self.error(Request(scope), status, message)
        if status == 413:
            response.headers["connection"] = "close"  # the rest of the body is not read
        await response(scope, receive, send)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if "\x00" in scope["path"] or b"%00" in scope["query_string"] or b"\x00" in scope["query_string"]:
            await self._refuse(scope, receive, send, 400, "NUL characters are not accepted in a URL")
            return
        length: bytes | None = None
        chunked = False
        content_type = b""
        for name, value in scope["headers"]:
            if name == b"content-length":
                length = value
            elif name == b"transfer-encoding":
                chunked = True
            elif name == b"content-type":
                content_type = value.lower()
        if length is None and not chunked:
            await self.app(scope, receive, send)  # no body (every GET): nothing to count
            return
        upload = content_type.startswith(b"multipart/form-data") or scope["path"] in self.upload_paths
        cap = self.max_upload if upload else self.max_body
        if length is not None:
            if not length.isdigit():
                await self._refuse(scope, receive, send, 400, "bad Content-Length")
                return
            if int(length) > cap:
                await self._refuse(scope, receive, send, 413, f"request body over {cap} bytes")
                return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > cap:
                await self._refuse(scope, receive, send, 413, f"request body over {cap} bytes")
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if _body_has_nul(content_type, body):
            await self._refuse(scope, receive, send, 400, "NUL characters are not accepted")
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
