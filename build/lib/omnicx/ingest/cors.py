"""CORS for the tracking API, so that analytics.js on a shop's own site can send to us.

A preflight carries no write key, so it is answered from the origins that *any* enabled
source allows; the request that follows names its source, and ``api.py`` refuses it
unless that source allows the origin. Credentials are never allowed: the write key
travels in the body or the Authorization header, not in cookies.
"""

from __future__ import annotations

from collections.abc import Collection

import orjson
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from omnicx.ingest.sources import BrowserOrigins

ALLOWED_METHODS = "POST, OPTIONS"
ALLOWED_HEADERS = "Content-Type, Authorization, Content-Encoding"
PREFLIGHT_MAX_AGE = "600"


class TrackingCors:
    """ASGI middleware for the tracking paths; every other path passes through untouched.

    The origin list lives in ``app.state.browser_origins`` (made in the app's lifespan).
    """

    def __init__(self, app: ASGIApp, paths: Collection[str]):
        self.app = app
        self.paths = frozenset(paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in self.paths:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        if scope["method"] == "OPTIONS":
            await self._preflight(scope, origin, headers, send)
            return
        if origin is None or not self._origins(scope).allowed(origin):
            await self.app(scope, receive, send)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                out = MutableHeaders(scope=message)
                out["Access-Control-Allow-Origin"] = origin
                out.add_vary_header("Origin")
            await send(message)

        await self.app(scope, receive, send_with_cors)

    @staticmethod
    def _origins(scope: Scope) -> BrowserOrigins:
        origins: BrowserOrigins = scope["app"].state.browser_origins
        return origins

    async def _preflight(
        self, scope: Scope, origin: str | None, headers: Headers, send: Send
    ) -> None:
        if origin is None or "access-control-request-method" not in headers:
            # Not a CORS preflight: just say what the path takes.
            await _respond(send, 204, {"Allow": ALLOWED_METHODS})
            return
        if not self._origins(scope).allowed(origin):
            # No Access-Control-Allow-Origin: the browser stops here and sends nothing.
            body = {
                "error": {
                    "code": "origin_not_allowed",
                    "message": f"no source accepts events from {origin}; add it with "
                    "`omnicx sources set-origins NAME --origin ORIGIN`",
                    "field": "Origin",
                }
            }
            await _respond(send, 403, {"Vary": "Origin"}, orjson.dumps(body))
            return
        await _respond(
            send,
            204,
            {
                "Access-Control-Allow-Origin": origin,
                "Access-Control-Allow-Methods": ALLOWED_METHODS,
                "Access-Control-Allow-Headers": ALLOWED_HEADERS,
                "Access-Control-Max-Age": PREFLIGHT_MAX_AGE,
                "Vary": "Origin",
            },
        )


async def _respond(send: Send, status: int, headers: dict[str, str], body: bytes = b"") -> None:
    raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    if body:
        raw.append((b"content-type", b"application/json"))
    raw.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
