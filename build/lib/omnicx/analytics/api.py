"""``/api/v1/analytics``: aggregates and pseudonymous customers (analytics:read)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from omnicx.analytics.schemas import Overview, PseudonymousPage
from omnicx.analytics.service import default_window, overview, pseudonymous_customers
from omnicx.core.database import get_database
from omnicx.governance.api import require
from omnicx.governance.permissions import Permission
from omnicx.governance.service import Principal

router = APIRouter(prefix="/api/v1/analytics", tags=["analytics"])

Analyst = Annotated[Principal, Depends(require(Permission.ANALYTICS_READ))]


@router.get("/overview", response_model=Overview, summary="Customers and events in a window")
def get_overview(
    principal: Analyst,
    days: Annotated[int, Query(ge=1, le=366, description="Length of the window")] = 30,
    until: Annotated[datetime | None, Query(description="End of the window (default: now)")] = None,
) -> Overview:
    since, end = default_window(days, until)
    with get_database().read() as session:
        return overview(session, since, end)


@router.get(
    "/customers", response_model=PseudonymousPage, summary="Customers under pseudonymous ids"
)
def list_customers(
    principal: Analyst,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> PseudonymousPage:
    with get_database().read() as session:
        return pseudonymous_customers(session, limit, cursor)
