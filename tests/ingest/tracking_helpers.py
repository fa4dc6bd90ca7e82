"""What the tracking API tests share: reading the log, the error shape, valid calls."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from omnicx.core.database import Database
from omnicx.core.eventlog.models import EventRow
from tests.factories import call

SINGLE_TYPES = ("identify", "track", "page", "screen", "group", "alias")


def stored(db: Database) -> list[Any]:
    """Rows of the events table in log order (plain rows: the read session rolls back)."""
    with db.read() as session:
        return list(session.execute(select(*EventRow.__table__.c).order_by(EventRow.seq)))


def assert_error(
    response: Any, status: int, code: str | None = None, field: str | None = None
) -> dict[str, Any]:
    """The response has ``status`` and the one error shape; returns the error object."""
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"code", "message", "field"}
    assert isinstance(error["code"], str) and error["code"]
    assert isinstance(error["message"], str) and error["message"]
    if code is not None:
        assert error["code"] == code, error
    if field is not None:
        assert error["field"] == field, error
    return error


def valid_call(kind: str, **fields: Any) -> dict[str, Any]:
    """A valid single call of ``kind`` (with what that type requires)."""
    extra: dict[str, Any] = {"userId": "user-1"}
    if kind == "group":
        extra["groupId"] = "acme"
    if kind == "alias":
        extra["previousId"] = "anon-1"
    if kind in ("page", "screen"):
        extra["name"] = "Home"
    extra.update(fields)
    body = call(kind, **extra)
    body.pop("type")  # the path says the type
    return body
