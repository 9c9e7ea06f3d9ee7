"""Security headers on every response: a Content-Security-Policy that runs only this site's own
script files (no inline script, no eval), no framing, no MIME sniffing, no full URLs in Referer."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Scripts: files under /static only — templates carry no inline <script> or on* handlers, and htmx
# is told (meta htmx-config in base.html) not to eval or run scripts in swapped HTML. Styles may be
# inline (style attributes are harmless once scripts cannot run; Swagger UI sets some). Images may
# be data: URLs (Swagger UI's icons).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)


def security_headers(https: bool) -> list[tuple[bytes, bytes]]:
    """The headers every response gets; HSTS only when the public address is https."""
    headers = [
        (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
        (b"x-frame-options", b"DENY"),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"same-origin"),
    ]
    if https:
        headers.append((b"strict-transport-security", b"max-age=31536000"))
    return headers


class SecurityHeadersMiddleware:
    """Adds `security_headers` to every HTTP response (cached ones included), unless a route set its own."""

    def __init__(self, app: ASGIApp, https: bool = False) -> None:
        self.app = app
        self.headers = security_headers(https)
        self.names = {name for name, _ in self.headers}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                own = list(message.get("headers", []))
                present = {name.lower() for name, _ in own} & self.names
                message = {**message, "headers": own + [h for h in self.headers if h[0] not in present]}
            await send(message)

        await self.app(scope, receive, with_headers)
