"""Every error leaves as ``{"error": {"code", "message", "field"}}`` with its status, except
for a person: a browser opening a page (not the API) gets the same error as an HTML page.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from omnicx.core.errors import OmniError

log = logging.getLogger(__name__)

STATUS_CODES = {
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}
# Programs' paths answer JSON whatever they accept: a client library may send
# ``Accept: text/html`` by default, and must still be able to parse the error.
API_PATHS = ("/api/", "/v1/", "/healthz", "/openapi.json")
HEADINGS = {
    400: "This request cannot be done",
    403: "Not allowed",
    404: "Page not found",
    405: "Not available here",
    422: "This address is not valid",
    500: "Something went wrong",
}


def _body(code: str, message: str, field: str | None = None) -> dict[str, object]:
    return {"error": {"code": code, "message": message, "field": field}}


def wants_html(request: Request) -> bool:
    """A person's browser opening a page: not an API path, not an htmx fragment request,
    and HTML is what it asked for."""
    if request.url.path.startswith(API_PATHS) or request.headers.get("HX-Request") == "true":
        return False
    return "text/html" in request.headers.get("accept", "")


def error_page(request: Request, status: int, message: str) -> HTMLResponse:
    """The error as a page of the site, with its navigation when the session can be read."""
    from omnicx.web.pages import render, templates

    context = {"status": status, "heading": HEADINGS.get(status, "Error"), "message": message}
    if "session" in request.scope and status < 500:
        return render(request, "error.html", context, status=status)
    # Outside the session middleware (an unexpected error): no user, no database read.
    bare: dict[str, object] = {"user": None, "can": set(), "csrf": "", "version": ""}
    return templates.TemplateResponse(request, "error.html", bare | context, status_code=status)


def _answer(
    request: Request,
    status: int,
    body: dict[str, object],
    headers: dict[str, str] | None = None,
) -> Response:
    if wants_html(request):
        error = body["error"]
        message = str(error["message"]) if isinstance(error, dict) else ""
        return error_page(request, status, message)
    return JSONResponse(body, status_code=status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(OmniError)
    async def omni_error(request: Request, exc: OmniError) -> Response:
        headers = None
        if exc.status_code == 401:
            tracking = request.url.path.startswith("/v1/")
            headers = {"WWW-Authenticate": 'Basic realm="tracking"' if tracking else "Bearer"}
        return _answer(request, exc.status_code, exc.to_body(), headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path")]
        body = {
            **_body("validation_failed", str(first.get("msg")), ".".join(loc) or None),
            "errors": [
                {"field": ".".join(str(p) for p in e.get("loc", ())), "message": e.get("msg")}
                for e in exc.errors()[:20]
            ],
        }
        if wants_html(request):
            where = f"{'.'.join(loc)}: " if loc else ""
            return error_page(request, 422, f"{where}{first.get('msg')}")
        return JSONResponse(body, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        code = STATUS_CODES.get(exc.status_code, "http_error")
        message = str(exc.detail)
        if exc.status_code == 404 and message == "Not Found" and wants_html(request):
            return error_page(request, 404, f"There is no page at {request.url.path}.")
        return _answer(
            request, exc.status_code, _body(code, message), getattr(exc, "headers", None)
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error")
        message = "an unexpected error occurred; it is logged"
        return _answer(request, 500, _body("internal_error", message))
