"""The Segment-compatible HTTP Tracking API (``/v1/...``).

Existing Segment and RudderStack SDKs work unchanged: point their host at OmniCX and
use a source's write key. The response comes only after every accepted event is
durable in the event log.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import zlib
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from omnicx.core.errors import (
    Forbidden,
    InvalidInput,
    PayloadTooLarge,
    Unauthenticated,
    UnsupportedMediaType,
)
from omnicx.core.eventlog.base import EventLog
from omnicx.core.i18n import msg
from omnicx.core.time import parse_timestamp, utcnow
from omnicx.ingest.metrics import count_accepted, count_rejected
from omnicx.ingest.sources import WriteKeys, normalize_origin, origin_allowed
from omnicx.ingest.tracking import (
    MAX_BATCH_EVENTS,
    MAX_EVENT_BYTES,
    MAX_REQUEST_BYTES,
    EventInvalid,
    to_log_event,
    validate_batch,
)

router = APIRouter(prefix="/v1", tags=["tracking"])

CALL_TYPES = ("identify", "track", "page", "screen", "group", "alias")
# analytics.js (@segment/analytics-next) posts to one-letter paths; same handlers, kept
# out of the OpenAPI schema (docs/api.md lists them).
SHORT_PATHS = {"i": "identify", "t": "track", "p": "page", "s": "screen", "g": "group"}
SHORT_PATHS |= {"a": "alias", "b": "batch"}
TRACKING_PATHS = frozenset(
    [f"/v1/{name}" for name in (*CALL_TYPES, "batch")] + [f"/v1/{short}" for short in SHORT_PATHS]
)


class SegmentCall(BaseModel):
    """One Segment call (identify, track, page, screen, group or alias)."""

    type: str | None = Field(None, description="Required inside a batch")
    userId: str | None = None
    anonymousId: str | None = None
    event: str | None = Field(None, description="track: the event name")
    name: str | None = Field(None, description="page/screen: the page or screen name")
    groupId: str | None = None
    previousId: str | None = Field(None, description="alias: the earlier id")
    messageId: str | None = Field(None, description="Retries with the same id are no-ops")
    timestamp: str | None = None
    originalTimestamp: str | None = None
    sentAt: str | None = None
    traits: dict[str, Any] | None = None
    properties: dict[str, Any] | None = None
    context: dict[str, Any] | None = None
    integrations: dict[str, Any] | None = None
    writeKey: str | None = Field(None, description="Alternative to HTTP Basic auth")


class BatchBody(BaseModel):
    batch: list[dict[str, Any]] = Field(description=f"At most {MAX_BATCH_EVENTS} calls")
    sentAt: str | None = None
    context: dict[str, Any] | None = None
    writeKey: str | None = None


class RejectedCall(BaseModel):
    index: int | None
    code: str
    message: str
    field: str | None


class IngestResult(BaseModel):
    success: bool
    accepted: int
    rejected: list[RejectedCall] = Field(default_factory=list)


def _body_schema(model: type[BaseModel]) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": model.model_json_schema()}},
        }
    }


RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"description": "Malformed JSON or an invalid event"},
    401: {"description": "Missing or invalid write key"},
    403: {"description": "Sent from a browser origin the source does not allow"},
    413: {"description": "Event over 32 KB, request over 500 KB or over 2,500 events"},
    503: {"description": "The event log could not confirm storage; retry"},
}


async def _read_json(request: Request, content_encoding: str | None) -> Any:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_REQUEST_BYTES:
        raise PayloadTooLarge(
            msg(
                "request is {declared} bytes; the limit is {limit}",
                declared=declared,
                limit=MAX_REQUEST_BYTES,
            )
        )
    content_type = request.headers.get("content-type", "application/json")
    if "json" not in content_type and "text/plain" not in content_type:
        raise UnsupportedMediaType("send the events as application/json")
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > MAX_REQUEST_BYTES:
            raise PayloadTooLarge(
                msg("request is over the {limit}-byte limit", limit=MAX_REQUEST_BYTES)
            )
    raw = bytes(body)
    if content_encoding and content_encoding.lower() == "gzip":
        try:
            inflater = zlib.decompressobj(wbits=zlib.MAX_WBITS | 16)
            raw = inflater.decompress(raw, MAX_REQUEST_BYTES + 1)
        except (zlib.error, gzip.BadGzipFile) as exc:
            raise InvalidInput("the body is not valid gzip", code="malformed_body") from exc
        if len(raw) > MAX_REQUEST_BYTES:
            raise PayloadTooLarge(
                msg("uncompressed request is over the {limit}-byte limit", limit=MAX_REQUEST_BYTES)
            )
        if not inflater.eof:
            # A truncated stream inflates without an error into a prefix of the body;
            # that prefix may even be valid JSON, so it must be refused here.
            raise InvalidInput("the gzip body is truncated", code="malformed_body")
    if not raw.strip():
        raise InvalidInput("the request body is empty", code="malformed_json")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(msg("malformed JSON: {exc}", exc=exc), code="malformed_json") from exc


def _write_key(request: Request, body: Any) -> str:
    header = request.headers.get("authorization", "")
    if header[:6].lower() == "basic ":
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise Unauthenticated("the Basic authorization header is not valid base64") from exc
        user = decoded.split(":", 1)[0]
        if user:
            return user
    if isinstance(body, dict) and isinstance(body.get("writeKey"), str) and body["writeKey"]:
        return str(body["writeKey"])
    raise Unauthenticated(
        "send the write key as the HTTP Basic user or as writeKey in the body", field="writeKey"
    )


def _sent_at(body: dict[str, Any], field: str = "sentAt") -> Any:
    value = body.get(field)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput(msg("{field} must be an ISO-8601 string", field=field), field=field)
    try:
        return parse_timestamp(value)
    except (ValueError, OverflowError) as exc:  # Overflow: leaves years 1-9999 in UTC
        raise InvalidInput("sentAt is not an ISO-8601 timestamp", field=field) from exc


def _same_origin(request: Request, origin: str) -> bool:
    try:
        return normalize_origin(origin) == normalize_origin(
            f"{request.url.scheme}://{request.headers.get('host', '')}"
        )
    except InvalidInput:
        return False


def _source_id(request: Request, body: Any) -> int:
    keys: WriteKeys = request.app.state.write_keys
    source = keys.source(_write_key(request, body))
    origin = request.headers.get("origin")
    # A browser sends text/plain posts without a preflight, so CORS alone would let any
    # site write with a leaked key: the source itself must allow the page's origin.
    if (
        origin is not None
        and not origin_allowed(origin, source.origins)
        and not _same_origin(request, origin)
    ):
        raise Forbidden(
            msg(
                "this source does not accept events from {origin}; allow it with `omnicx sources "
                "set-origins NAME --origin {origin}`",
                origin=origin,
            ),
            code="origin_not_allowed",
            field="Origin",
        )
    return source.source_id


def _log(request: Request) -> EventLog:
    log: EventLog = request.app.state.event_log
    return log


async def _single(request: Request, event_type: str, content_encoding: str | None) -> JSONResponse:
    body = await _read_json(request, content_encoding)
    source_id = _source_id(request, body)
    received_at = utcnow()
    try:
        event = to_log_event(
            source_id,
            body,
            event_type=event_type,
            prefix="",
            received_at=received_at,
            sent_at=_sent_at(body) if isinstance(body, dict) else None,
        )
    except EventInvalid as exc:
        count_rejected(source_id, [exc.code])
        status = 413 if exc.code == "event_too_large" else 400
        return JSONResponse(
            {"error": {"code": exc.code, "message": exc.message, "field": exc.field}},
            status_code=status,
        )
    await _log(request).append([event])
    count_accepted(source_id, 1)
    return JSONResponse({"success": True, "accepted": 1, "rejected": []})


def _single_route(event_type: str) -> Any:
    async def endpoint(
        request: Request,
        content_encoding: Annotated[str | None, Header()] = None,
    ) -> JSONResponse:
        return await _single(request, event_type, content_encoding)

    endpoint.__name__ = f"segment_{event_type}"
    endpoint.__doc__ = f"Segment `{event_type}` call (write key as Basic user or `writeKey`)."
    return endpoint


for _type in CALL_TYPES:
    router.add_api_route(
        f"/{_type}",
        _single_route(_type),
        methods=["POST"],
        response_model=IngestResult,
        responses=RESPONSES,
        openapi_extra=_body_schema(SegmentCall),
        summary=f"Segment {_type}",
    )


async def segment_batch(
    request: Request, content_encoding: Annotated[str | None, Header()] = None
) -> JSONResponse:
    """Up to 2,500 calls. Valid calls are stored even if others are rejected (207)."""
    body = await _read_json(request, content_encoding)
    source_id = _source_id(request, body)
    if not isinstance(body, dict):
        raise InvalidInput("the body must be a JSON object with a batch array")
    calls = body.get("batch")
    if not isinstance(calls, list):
        raise InvalidInput("batch must be an array of calls", field="batch")
    if len(calls) > MAX_BATCH_EVENTS:
        count_rejected(source_id, ["payload_too_large"] * len(calls))
        raise PayloadTooLarge(
            msg(
                "batch has {count} calls; the limit is {limit}",
                count=len(calls),
                limit=MAX_BATCH_EVENTS,
            ),
            field="batch",
        )
    shared_context = body.get("context")
    if shared_context is not None and not isinstance(shared_context, dict):
        raise InvalidInput("context must be an object", field="context")
    if shared_context:
        # Batch-level context applies to every call that lacks its own keys.
        calls = [
            {**c, "context": {**shared_context, **(c.get("context") or {})}}
            if isinstance(c, dict) and isinstance(c.get("context") or {}, dict)
            else c
            for c in calls
        ]
    accepted, rejected = validate_batch(source_id, calls, utcnow(), _sent_at(body))
    if accepted:
        await _log(request).append(accepted)
        count_accepted(source_id, len(accepted))
    count_rejected(source_id, (r.code for r in rejected))
    result = {
        "success": not rejected,
        "accepted": len(accepted),
        "rejected": [r.as_dict() for r in rejected],
    }
    if rejected and not accepted and calls:
        first = rejected[0]
        result["error"] = {"code": first.code, "message": first.message, "field": first.field}
        return JSONResponse(result, status_code=400)
    return JSONResponse(result, status_code=207 if rejected else 200)


router.add_api_route(
    "/batch",
    segment_batch,
    methods=["POST"],
    response_model=IngestResult,
    openapi_extra=_body_schema(BatchBody),
    summary="Segment batch",
    responses={**RESPONSES, 207: {"description": "Some calls rejected; see rejected[]"}},
)
for _short, _type in SHORT_PATHS.items():
    router.add_api_route(
        f"/{_short}",
        segment_batch if _type == "batch" else _single_route(_type),
        methods=["POST"],
        include_in_schema=False,
    )


# Kept in one place so that tests and docs agree with the code.
LIMITS = {
    "event_bytes": MAX_EVENT_BYTES,
    "request_bytes": MAX_REQUEST_BYTES,
    "batch_events": MAX_BATCH_EVENTS,
}
