"""``/api/v1/audit``: search the audit log, export it as CSV, verify the chain."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from omnicx.core.database import get_database
from omnicx.core.errors import InvalidInput
from omnicx.core.time import as_utc, utcnow
from omnicx.governance import audit
from omnicx.governance.api import client_ip, require
from omnicx.governance.models import AuditEntry
from omnicx.governance.permissions import Permission
from omnicx.governance.service import Principal

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])

Auditor = Annotated[Principal, Depends(require(Permission.AUDIT_READ))]
MAX_PAGE = 500


class AuditEntryOut(BaseModel):
    id: int
    at: datetime
    actor: str
    actor_role: str
    action: str
    target_type: str | None
    target_id: str | None
    detail: dict[str, Any]
    ip: str | None
    hash: str

    @classmethod
    def of(cls, entry: AuditEntry) -> AuditEntryOut:
        return cls(
            id=entry.id,
            at=as_utc(entry.at),
            actor=entry.actor,
            actor_role=entry.actor_role,
            action=entry.action,
            target_type=entry.target_type,
            target_id=entry.target_id,
            detail=audit.detail_of(entry),
            ip=entry.ip,
            hash=entry.hash,
        )


class AuditPage(BaseModel):
    entries: list[AuditEntryOut]
    # Pass as ``before_id`` for the next (older) page; None when this was the last one.
    next_before_id: int | None


class ChainReportOut(BaseModel):
    ok: bool
    checked: int
    broken_at: int | None
    problem: str | None


def audit_filter(
    actor: Annotated[
        str | None, Query(max_length=200, description="e.g. user:li@corp.cn, token:3:etl, system")
    ] = None,
    action: Annotated[
        str | None,
        Query(max_length=64, description="an action, or a prefix ending in '.': 'login.'"),
    ] = None,
    target_type: Annotated[str | None, Query(max_length=40)] = None,
    target_id: Annotated[str | None, Query(max_length=100)] = None,
    since: Annotated[datetime | None, Query(description="from this time (ISO-8601)")] = None,
    until: Annotated[datetime | None, Query(description="before this time (ISO-8601)")] = None,
) -> audit.AuditFilter:
    """The search filter from query parameters (shared by the API and the admin page)."""
    if since and until and as_utc(since) >= as_utc(until):
        raise InvalidInput("since must be before until", field="since")
    return audit.AuditFilter(actor, action, target_type, target_id, since, until)


Filter = Annotated[audit.AuditFilter, Depends(audit_filter)]


@router.get("", response_model=AuditPage, summary="Search the audit log, newest first")
def list_entries(
    principal: Auditor,
    where: Filter,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    before_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
) -> AuditPage:
    with get_database().read() as session:
        entries = audit.search(session, where, limit, before_id)
        return AuditPage(
            entries=[AuditEntryOut.of(e) for e in entries],
            next_before_id=entries[-1].id if len(entries) == limit else None,
        )


@router.get("/verify", response_model=ChainReportOut, summary="Check the hash chain")
def verify_chain(principal: Auditor) -> ChainReportOut:
    with get_database().read() as session:
        report = audit.verify(session)
    return ChainReportOut(
        ok=report.ok, checked=report.checked, broken_at=report.broken_at, problem=report.problem
    )


def csv_rows(where: audit.AuditFilter) -> Iterator[str]:
    """The matching entries as CSV text, a few hundred rows per chunk, from one snapshot."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(audit.CSV_COLUMNS)
    with get_database().read() as session:
        for n, entry in enumerate(audit.search_all(session, where), 1):
            writer.writerow(audit.csv_row(entry))
            if n % 500 == 0:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
    yield buffer.getvalue()


def export_csv(principal: Principal, where: audit.AuditFilter, ip: str | None) -> StreamingResponse:
    """Record the export (``audit.export``, committed first), then stream the CSV."""
    with get_database().write() as session:
        audit.record(session, principal, "audit.export", detail=where.as_detail(), ip=ip)
    name = f"omnicx-audit-{utcnow():%Y%m%dT%H%M%SZ}.csv"
    return StreamingResponse(
        csv_rows(where),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get(
    "/export.csv",
    summary="Export matching entries as CSV (the export is itself audited)",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}}},
)
def export_entries(principal: Auditor, where: Filter, request: Request) -> StreamingResponse:
    return export_csv(principal, where, client_ip(request))
