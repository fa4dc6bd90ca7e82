"""Segment's HTTP Tracking API spec: validating calls into canonical log events.

Limits are Segment's: 32 KB per event, 500 KB per request, and (ours, stated) 2,500
events per batch. Unlike Segment, nothing is dropped silently: every rejected event is
reported with its index, a code, a message and the field at fault.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from omnicx.core.eventlog.base import LogEvent
from omnicx.core.time import parse_timestamp

MAX_EVENT_BYTES = 32 * 1024
MAX_REQUEST_BYTES = 500 * 1024
MAX_BATCH_EVENTS = 2500
MAX_ID_LENGTH = 200
EVENT_TYPES = ("identify", "track", "page", "screen", "group", "alias")
OBJECT_FIELDS = ("traits", "properties", "context", "integrations")


@dataclass(frozen=True, slots=True)
class Rejection:
    index: int | None
    code: str
    message: str
    field: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "code": self.code,
            "message": self.message,
            "field": self.field,
        }


class EventInvalid(Exception):
    def __init__(self, code: str, message: str, field: str | None):
        super().__init__(message)
        self.code, self.message, self.field = code, message, field


def _path(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _check_id_text(text: str, name: str, prefix: str) -> str:
    if len(text) > MAX_ID_LENGTH:
        raise EventInvalid(
            "too_long", f"{name} is longer than {MAX_ID_LENGTH} characters", _path(prefix, name)
        )
    # These values end up in text columns (message_id, name, identifier values), and
    # PostgreSQL text cannot hold NUL: without this check the insert fails with a 500.
    if "\x00" in text:
        raise EventInvalid(
            "invalid_character", f"{name} must not contain NUL characters", _path(prefix, name)
        )
    return text


def _identity(raw: dict[str, Any], name: str, prefix: str) -> str | None:
    value = raw.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise EventInvalid("wrong_type", f"{name} must be a string", _path(prefix, name))
    return _check_id_text(str(value), name, prefix)


def _timestamp(raw: dict[str, Any], name: str, prefix: str) -> datetime | None:
    value = raw.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise EventInvalid("wrong_type", f"{name} must be an ISO-8601 string", _path(prefix, name))
    try:
        return parse_timestamp(value)
    # OverflowError: a valid ISO string whose UTC conversion leaves years 1-9999
    # (e.g. 9999-12-31T23:59:59-01:00) used to escape as a 500.
    except (ValueError, OverflowError) as exc:
        raise EventInvalid(
            "invalid_timestamp", f"{name} is not an ISO-8601 timestamp", _path(prefix, name)
        ) from exc


def _short_string(raw: dict[str, Any], name: str, prefix: str, *, required: bool) -> str | None:
    value = raw.get(name)
    if value is None or value == "":
        if required:
            raise EventInvalid("missing_field", f"{name} is required", _path(prefix, name))
        return None
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise EventInvalid("wrong_type", f"{name} must be a string", _path(prefix, name))
    return _check_id_text(str(value), name, prefix)


def canonical_event(
    raw: Any,
    *,
    event_type: str | None,
    prefix: str,
    received_at: datetime,
    sent_at: datetime | None,
    encoded_size: int | None = None,
) -> tuple[str, str, str | None, datetime, dict[str, Any]]:
    """Validate one call. Returns (type, message_id, name, occurred_at, canonical payload)."""
    if not isinstance(raw, dict):
        raise EventInvalid("wrong_type", "an event must be a JSON object", prefix or None)
    size = encoded_size if encoded_size is not None else len(orjson.dumps(raw))
    if size > MAX_EVENT_BYTES:
        raise EventInvalid(
            "event_too_large",
            f"event is {size} bytes; the limit is {MAX_EVENT_BYTES}",
            prefix or None,
        )
    kind = event_type or raw.get("type")
    if kind not in EVENT_TYPES:
        raise EventInvalid(
            "invalid_type", f"type must be one of {', '.join(EVENT_TYPES)}", _path(prefix, "type")
        )
    for field in OBJECT_FIELDS:  # not ``name``: that is the event name below (mypy)
        if field in raw and raw[field] is not None and not isinstance(raw[field], dict):
            raise EventInvalid("wrong_type", f"{field} must be an object", _path(prefix, field))
    context = raw.get("context") or {}
    if "externalIds" in context and not isinstance(context["externalIds"], list):
        raise EventInvalid(
            "wrong_type", "context.externalIds must be a list", _path(prefix, "context.externalIds")
        )
    user_id = _identity(raw, "userId", prefix)
    anonymous_id = _identity(raw, "anonymousId", prefix)
    if user_id is None and anonymous_id is None:
        raise EventInvalid(
            "missing_identity", "either userId or anonymousId is required", _path(prefix, "userId")
        )
    name: str | None = None
    if kind == "track":
        name = _short_string(raw, "event", prefix, required=True)
    elif kind in ("page", "screen"):
        name = _short_string(raw, "name", prefix, required=False)
    elif kind == "group":
        _short_string(raw, "groupId", prefix, required=True)
    elif kind == "alias":
        _short_string(raw, "previousId", prefix, required=True)
        if user_id is None:
            raise EventInvalid("missing_field", "alias needs userId", _path(prefix, "userId"))
    message_id = _short_string(raw, "messageId", prefix, required=False) or f"gen-{uuid.uuid4()}"
    timestamp = _timestamp(raw, "timestamp", prefix)
    original = _timestamp(raw, "originalTimestamp", prefix)
    own_sent_at = _timestamp(raw, "sentAt", prefix) or sent_at
    if timestamp is not None:
        occurred = timestamp
    elif original is not None and own_sent_at is not None:
        # Segment's clock-skew correction: the device clock may be wrong, the gap is not.
        try:
            occurred = received_at - (own_sent_at - original)
        except OverflowError as exc:
            # A gap of thousands of years lands outside datetime's range: not a real clock.
            raise EventInvalid(
                "invalid_timestamp",
                "sentAt and originalTimestamp are too far apart",
                _path(prefix, "originalTimestamp"),
            ) from exc
    else:
        occurred = original or received_at
    payload = dict(raw)
    payload["type"] = kind
    payload["messageId"] = message_id
    payload["timestamp"] = occurred.isoformat()
    payload["receivedAt"] = received_at.isoformat()
    payload.pop("writeKey", None)
    return kind, message_id, name, occurred, payload


def to_log_event(
    source_id: int,
    raw: Any,
    *,
    event_type: str | None,
    prefix: str,
    received_at: datetime,
    sent_at: datetime | None,
) -> LogEvent:
    kind, message_id, name, occurred, payload = canonical_event(
        raw, event_type=event_type, prefix=prefix, received_at=received_at, sent_at=sent_at
    )
    return LogEvent(
        source_id=source_id,
        message_id=message_id,
        type=kind,
        name=name,
        occurred_at=occurred,
        received_at=received_at,
        payload=payload,
    )


def validate_batch(
    source_id: int, calls: list[Any], received_at: datetime, sent_at: datetime | None
) -> tuple[list[LogEvent], list[Rejection]]:
    """Valid events of a batch, and a rejection for each invalid one (by index)."""
    accepted: list[LogEvent] = []
    rejected: list[Rejection] = []
    for index, raw in enumerate(calls):
        try:
            accepted.append(
                to_log_event(
                    source_id,
                    raw,
                    event_type=None,
                    prefix=f"batch[{index}]",
                    received_at=received_at,
                    sent_at=sent_at,
                )
            )
        except EventInvalid as exc:
            rejected.append(Rejection(index, exc.code, exc.message, exc.field))
    return accepted, rejected
