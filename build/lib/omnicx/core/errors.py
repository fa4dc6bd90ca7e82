"""Errors the caller can act on, each with an HTTP status and a stable code.

Every one renders as ``{"error": {"code", "message", "field"}}``.
"""

from __future__ import annotations

from typing import Any


class OmniError(Exception):
    status_code = 400
    code = "bad_request"

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        if code:
            self.code = code

    def to_body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "field": self.field}}


class InvalidInput(OmniError):
    status_code = 400
    code = "invalid_input"


def check_text(value: str, field: str) -> None:
    """Refuse NUL characters, which PostgreSQL text cannot hold nor even compare (a 400,
    not a 500)."""
    if "\x00" in value:
        raise InvalidInput(f"{field} must not contain NUL characters", field=field)


class Unprocessable(OmniError):
    status_code = 422
    code = "validation_failed"


class Unauthenticated(OmniError):
    status_code = 401
    code = "unauthenticated"


class Forbidden(OmniError):
    status_code = 403
    code = "forbidden"


class NotFound(OmniError):
    status_code = 404
    code = "not_found"


class Conflict(OmniError):
    status_code = 409
    code = "conflict"


class PayloadTooLarge(OmniError):
    status_code = 413
    code = "payload_too_large"


class UnsupportedMediaType(OmniError):
    status_code = 415
    code = "unsupported_media_type"


class ServiceUnavailable(OmniError):
    status_code = 503
    code = "unavailable"
