"""Errors the caller can act on, each with an HTTP status and a stable code.

Every one renders as ``{"error": {"code", "message", "field"}}``: ``code`` is stable for
programs, ``message`` is in the reader's language (``to_body(language)``); the English text
stays in ``message`` on the exception, for logs.
"""

from __future__ import annotations

from typing import Any

from omnicx.core.i18n import Message, lazy, msg


class OmniError(Exception):
    status_code = 400
    code = "bad_request"

    def __init__(
        self, message: str | Message, *, field: str | None = None, code: str | None = None
    ):
        super().__init__(str(message))
        # A literal string is its own msgid; ``msg(...)`` carries parameters.
        self.text = lazy(message)
        self.message = str(message)
        self.field = field
        if code:
            self.code = code

    def in_language(self, language: str) -> str:
        return self.text.in_language(language)

    def to_body(self, language: str = "en") -> dict[str, Any]:
        message = self.in_language(language)
        return {"error": {"code": self.code, "message": message, "field": self.field}}


class InvalidInput(OmniError):
    status_code = 400
    code = "invalid_input"


def check_text(value: str, field: str) -> None:
    """Refuse NUL characters, which PostgreSQL text cannot hold nor even compare (a 400,
    not a 500)."""
    if "\x00" in value:
        raise InvalidInput(msg("{field} must not contain NUL characters", field=field), field=field)


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
