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
from omnicx.core.i18n import LANGUAGE_NAMES, Message, gettext, msg
from omnicx.web.language import remember_language, request_language

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
    400: msg("This request cannot be done"),
    403: msg("Not allowed"),
    404: msg("Page not found"),
    405: msg("Not available here"),
    422: msg("This address is not valid"),
    500: msg("Something went wrong"),
}
# Starlette's own details (a route's 405, a missing path's 404), as msgids.
STARLETTE_DETAILS = {
    "Not Found": msg("Not Found"),
    "Method Not Allowed": msg("Method Not Allowed"),
}


def _body(code: str, message: str, field: str | None = None) -> dict[str, object]:
    return {"error": {"code": code, "message": message, "field": field}}


def wants_html(request: Request) -> bool:
    """A person's browser opening a page: not an API path, not an htmx fragment request,
    and HTML is what it asked for."""
    if request.url.path.startswith(API_PATHS) or request.headers.get("HX-Request") == "true":
        return False
    return "text/html" in request.headers.get("accept", "")


def error_page(request: Request, status: int, message: str | Message) -> HTMLResponse:
    """The error as a page of the site, with its navigation when the session can be read."""
    from omnicx.web.pages import render, templates

    heading = HEADINGS.get(status, msg("Error"))
    context = {"status": status, "heading": heading, "message": message}
    if "session" in request.scope and status < 500:
        return render(request, "error.html", context, status=status)
    # Outside the session middleware (an unexpected error): no user, no database read.
    language = request_language(request, use_account=False)
    bare: dict[str, object] = {
        "user": None,
        "can": set(),
        "csrf": "",
        "version": "",
        "language": language,
        "languages": LANGUAGE_NAMES,
        "timezone": "UTC",
        "heading": heading.in_language(language),
        "message": message.in_language(language) if isinstance(message, Message) else message,
    }
    page = templates.TemplateResponse(request, "error.html", context | bare, status_code=status)
    remember_language(request, page)
    return page


def _answer(
    request: Request,
    status: int,
    body: dict[str, object],
    headers: dict[str, str] | None = None,
) -> Response:
    """``body``'s message is already in the request's language."""
    if wants_html(request):
        error = body["error"]
        message = str(error["message"]) if isinstance(error, dict) else ""
        return error_page(request, status, message)
    return JSONResponse(body, status_code=status, headers=headers)


def _language(request: Request, status: int) -> str:
    # An unexpected error may be the database's: the users table is not read then.
    return request_language(request, use_account=status < 500)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(OmniError)
    async def omni_error(request: Request, exc: OmniError) -> Response:
        headers = None
        if exc.status_code == 401:
            tracking = request.url.path.startswith("/v1/")
            headers = {"WWW-Authenticate": 'Basic realm="tracking"' if tracking else "Bearer"}
        if exc.status_code >= 500:
            log.warning("%s: %s", exc.code, exc.message)  # the English text, for operators
        body = exc.to_body(_language(request, exc.status_code))
        return _answer(request, exc.status_code, body, headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path")]
        where = ".".join(loc)
        # Pydantic's own sentences stay English (in "errors", for programs); the summary
        # says in the reader's language which field is wrong.
        summary = (
            msg("{field}: {problem}", field=where, problem=first.get("msg"))
            if where
            else msg("The request is not valid: {problem}", problem=first.get("msg"))
        )
        language = request_language(request)
        body = {
            **_body("validation_failed", summary.in_language(language), where or None),
            "errors": [
                {"field": ".".join(str(p) for p in e.get("loc", ())), "message": e.get("msg")}
                for e in exc.errors()[:20]
            ],
        }
        if wants_html(request):
            return error_page(request, 422, summary)
        return JSONResponse(body, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        code = STATUS_CODES.get(exc.status_code, "http_error")
        detail = str(exc.detail)
        if exc.status_code == 404 and detail == "Not Found" and wants_html(request):
            there = msg("There is no page at {path}.", path=request.url.path)
            return error_page(request, 404, there)
        language = _language(request, exc.status_code)
        known = STARLETTE_DETAILS.get(detail)
        message = known.in_language(language) if known else gettext(language, detail)
        return _answer(
            request, exc.status_code, _body(code, message), getattr(exc, "headers", None)
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error")
        message = msg("an unexpected error occurred; it is logged")
        language = _language(request, 500)
        return _answer(request, 500, _body("internal_error", message.in_language(language)))
