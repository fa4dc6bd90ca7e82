"""HTTP metrics (requests and latency by route template) and the ``GET /metrics`` route.

The middleware is plain ASGI and runs on every request, the tracking API's included, so
it does as little as it can: two clock reads, and one cached counter child and histogram
child per (method, route, status). Labels name the route's template
(``/api/v1/customers/{customer_id}``), never the raw path, so no customer id or probing
URL becomes a time series; a path no route matches is counted as ``unmatched``, except
the fixed paths given as ``answered_before_routing`` (the tracking API's CORS preflights,
which its CORS layer answers before any route is matched).
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from omnicx.core.database import get_database
from omnicx.core.metrics import CONTENT_TYPE_LATEST, REGISTRY, exposition
from omnicx.governance.api import require
from omnicx.governance.permissions import Permission
from omnicx.governance.service import Principal

REQUESTS = Counter(
    "omnicx_http_requests",
    "HTTP requests answered, by method, route template and status code.",
    ["method", "route", "status"],
    registry=REGISTRY,
)
LATENCY = Histogram(
    "omnicx_http_request_duration_seconds",
    "Time from a request's arrival to the end of its response, by method and route template.",
    ["method", "route"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    registry=REGISTRY,
)
UNMATCHED = "unmatched"
# Any other method (a scanner's "FOO") is counted as OTHER: label values stay bounded.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class RequestMetrics:
    """ASGI middleware counting every HTTP request by route template and status."""

    def __init__(self, app: ASGIApp, answered_before_routing: frozenset[str] = frozenset()):
        self.app = app
        self.answered_before_routing = answered_before_routing
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500  # unless a response starts: an exception escaped the application

        async def send_and_note_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        started = time.perf_counter()
        try:
            await self.app(scope, receive, send_and_note_status)
        finally:
            self._record(scope, status, time.perf_counter() - started)

    def _record(self, scope: Scope, status: int, seconds: float) -> None:
        # The router leaves the matched route in the scope (a Mount for /static).
        route = getattr(scope.get("route"), "path", None)
        if route is None:
            path = scope["path"]
            route = path if path in self.answered_before_routing else UNMATCHED
        method = scope["method"] if scope["method"] in METHODS else "OTHER"
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            children = (
                REQUESTS.labels(method, route, str(status)),
                LATENCY.labels(method, route),
            )
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)


router = APIRouter(tags=["platform"])


@router.get(
    "/metrics",
    summary="Metrics in Prometheus' text format",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "The metrics"}},
)
def metrics(
    request: Request,
    _: Annotated[Principal, Depends(require(Permission.METRICS_READ))],
) -> Response:
    """Every metric of this process and the pipeline and outbox state from the database
    (``docs/operations.md``). Needs a token with ``metrics:read``."""
    database = get_database(request.app.state.settings)
    return Response(exposition(database), media_type=CONTENT_TYPE_LATEST)
