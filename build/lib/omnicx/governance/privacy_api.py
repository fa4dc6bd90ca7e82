"""``/api/v1/privacy``: export and erasure requests, the suppression list, retention.

Everything here needs ``privacy:manage``. Request processing runs in the call (an
erasure commits before it answers); the export bundle is built on download from live
data and each download is audited.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from omnicx.core.database import get_database
from omnicx.core.settings import get_settings
from omnicx.core.time import as_utc
from omnicx.governance import privacy, retention, suppression
from omnicx.governance.api import client_ip, require
from omnicx.governance.models import PrivacyRequest, RetentionRun
from omnicx.governance.permissions import Permission
from omnicx.governance.service import Principal

router = APIRouter(prefix="/api/v1/privacy", tags=["privacy"])

Manager = Annotated[Principal, Depends(require(Permission.PRIVACY_MANAGE))]
RequestId = Annotated[int, Path(ge=1, le=2**62)]
# Stored times: SQLite hands them back naive; they are UTC and the API says so.
UtcTime = Annotated[datetime, AfterValidator(as_utc)]


# -- schemas ------------------------------------------------------------------------------


class IdentifierIn(BaseModel):
    type: str = Field(min_length=1, max_length=40, description="e.g. email, phone, user_id")
    value: str = Field(min_length=1, max_length=500)
    scope: str = Field("", max_length=100, description="WeChat app id for openids")


class PrivacyRequestIn(BaseModel):
    kind: Literal["export", "erase"]
    customer_id: int | None = Field(None, ge=1, le=2**62)
    identifier: IdentifierIn | None = Field(None, description="Instead of customer_id")
    reason: str = Field(min_length=1, max_length=2000, description="No personal data here")
    run: bool = Field(True, description="Process it now (false: only record it)")


class PrivacyRequestOut(BaseModel):
    id: int
    kind: str
    customer_id: int
    status: str
    reason: str
    requested_by: str
    created_at: UtcTime
    due_at: UtcTime
    completed_at: UtcTime | None
    overdue: bool
    result: dict[str, Any]
    error: str | None

    @classmethod
    def of(cls, row: PrivacyRequest) -> PrivacyRequestOut:
        return cls(
            id=row.id,
            kind=row.kind,
            customer_id=row.customer_id,
            status=row.status,
            reason=row.reason,
            requested_by=row.requested_by,
            created_at=row.created_at,
            due_at=row.due_at,
            completed_at=row.completed_at,
            overdue=privacy.is_overdue(row),
            result=privacy.result_of(row),
            error=row.error,
        )


class SuppressionIn(BaseModel):
    identifier: IdentifierIn
    scope: Literal["all", "marketing"] = Field(
        description="all: never ingest nor contact; marketing: no marketing messages"
    )
    reason: str = Field("requested", pattern=r"^[a-z][a-z0-9_]{0,31}$", description="A short code")


class SuppressionOut(BaseModel):
    # Every field is a column: read straight from the row with model_validate(row).
    model_config = ConfigDict(from_attributes=True)

    id: int
    identifier_type: str
    scope: str
    reason: str
    privacy_request_id: int | None
    actor: str
    created_at: UtcTime


class RetentionRunIn(BaseModel):
    dry_run: bool = False


class RetentionRunOut(BaseModel):
    id: int
    started_at: UtcTime
    finished_at: UtcTime | None
    actor: str
    dry_run: bool
    report: dict[str, Any]

    @classmethod
    def of(cls, row: RetentionRun) -> RetentionRunOut:
        return cls(
            id=row.id,
            started_at=row.started_at,
            finished_at=row.finished_at,
            actor=row.actor,
            dry_run=row.dry_run,
            report=retention.report_of(row),
        )


class RetentionOverview(BaseModel):
    policy: dict[str, int | None] = Field(description="Days per kind; null keeps for ever")
    interval_hours: float
    runs: list[RetentionRunOut]


# -- requests -----------------------------------------------------------------------------


@router.post(
    "/requests",
    response_model=PrivacyRequestOut,
    status_code=201,
    summary="Record an export or erasure request (and process it)",
)
def create_request(principal: Manager, body: PrivacyRequestIn) -> PrivacyRequestOut:
    database = get_database()
    with database.write() as session:
        identifier = body.identifier
        row = privacy.open_request(
            session,
            body.kind,
            reason=body.reason,
            actor=principal,
            customer_id=body.customer_id,
            identifier=(identifier.type, identifier.value, identifier.scope)
            if identifier
            else None,
        )
        request_id = row.id
    if body.run:
        row = privacy.run_request(database, request_id, principal)
    return PrivacyRequestOut.of(row)


@router.get("/requests", response_model=list[PrivacyRequestOut], summary="Privacy requests")
def list_requests(
    principal: Manager,
    status: Annotated[
        Literal["received", "in_progress", "completed", "failed"] | None, Query()
    ] = None,
    kind: Annotated[Literal["export", "erase"] | None, Query()] = None,
    overdue: Annotated[bool, Query(description="Not completed and past the deadline")] = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    before_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
) -> list[PrivacyRequestOut]:
    with get_database().read() as session:
        rows = privacy.list_requests(
            session, status=status, kind=kind, overdue=overdue, limit=limit, before_id=before_id
        )
        return [PrivacyRequestOut.of(r) for r in rows]


@router.get("/requests/{request_id}", response_model=PrivacyRequestOut, summary="One request")
def get_request(principal: Manager, request_id: RequestId) -> PrivacyRequestOut:
    with get_database().read() as session:
        return PrivacyRequestOut.of(privacy.get_request(session, request_id))


@router.post(
    "/requests/{request_id}/run",
    response_model=PrivacyRequestOut,
    summary="Process a received or failed request",
)
def run_request(principal: Manager, request_id: RequestId) -> PrivacyRequestOut:
    return PrivacyRequestOut.of(privacy.run_request(get_database(), request_id, principal))


@router.get(
    "/requests/{request_id}/bundle",
    summary="Download an export's bundle (JSON; audited privacy.export)",
    response_class=JSONResponse,
)
def download_bundle(principal: Manager, request_id: RequestId, request: Request) -> Response:
    with get_database().write() as session:
        row = privacy.get_request(session, request_id)
        ip = client_ip(request)
        bundle = privacy.deliver_export(session, row, principal, ip=ip)
    return bundle_download(request_id, bundle)


def bundle_download(request_id: int, bundle: dict[str, Any]) -> Response:
    """The bundle as a file to save (the privacy page serves it the same way): personal
    data, so no cache may keep a copy."""
    return JSONResponse(
        bundle,
        headers={
            "Content-Disposition": f'attachment; filename="omnicx-export-{request_id}.json"',
            "Cache-Control": "no-store",
        },
    )


# -- suppressions -------------------------------------------------------------------------


@router.get("/suppressions", response_model=list[SuppressionOut], summary="The suppression list")
def list_suppressions(
    principal: Manager,
    scope: Annotated[Literal["all", "marketing"] | None, Query()] = None,
    reason: Annotated[str | None, Query(max_length=32)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    before_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
) -> list[SuppressionOut]:
    with get_database().read() as session:
        rows = suppression.list_suppressions(
            session, scope=scope, reason=reason, limit=limit, before_id=before_id
        )
        return [SuppressionOut.model_validate(r) for r in rows]


@router.post(
    "/suppressions",
    response_model=SuppressionOut,
    summary="Suppress an identifier (only its blind index is stored)",
)
def add_suppression(principal: Manager, body: SuppressionIn, response: Response) -> SuppressionOut:
    ident = body.identifier
    kind, key = privacy.registry.require_locator().identifier_key(
        ident.type, ident.value, ident.scope
    )
    with get_database().write() as session:
        row, added = suppression.add_suppression(
            session, key, kind, body.scope, body.reason, principal
        )
        response.status_code = 201 if added else 200
        return SuppressionOut.model_validate(row)


@router.delete(
    "/suppressions/{suppression_id}",
    status_code=204,
    summary="Take an identifier off the list (it may be ingested and contacted again)",
)
def remove_suppression(
    principal: Manager, suppression_id: Annotated[int, Path(ge=1, le=2**62)]
) -> Response:
    with get_database().write() as session:
        suppression.remove_suppression(session, suppression_id, principal)
    return Response(status_code=204)


# -- retention ----------------------------------------------------------------------------


@router.get("/retention", response_model=RetentionOverview, summary="Policy and latest runs")
def retention_overview(
    principal: Manager, limit: Annotated[int, Query(ge=1, le=100)] = 20
) -> RetentionOverview:
    settings = get_settings()
    with get_database().read() as session:
        runs = [RetentionRunOut.of(r) for r in retention.recent_runs(session, limit)]
    return RetentionOverview(
        policy=settings.retention, interval_hours=settings.retention_interval_hours, runs=runs
    )


@router.post("/retention/run", response_model=RetentionRunOut, summary="Run the retention job now")
def run_retention(principal: Manager, body: RetentionRunIn) -> RetentionRunOut:
    run = retention.run_retention(get_database(), get_settings(), principal, dry_run=body.dry_run)
    assert run is not None  # only the schedule skips
    return RetentionRunOut.of(run)
