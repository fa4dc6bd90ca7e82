"""``/api/v1/customers/{id}/consent``: a customer's consent state and history; record a
decision.

Governance cannot read the identity graph, so the router is built with the function that
turns a customer id into a ``ConsentSubject`` (the web app passes
``customers.consent.consent_subject``).
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, Field

from omnicx.core.database import get_database
from omnicx.governance.api import client_ip, require
from omnicx.governance.consent import (
    NOTE_MAX,
    ConsentDecision,
    ConsentStatus,
    SubjectFinder,
    change_consent,
    consent_grid,
    decisions_of,
    default_granted,
    status_from,
)
from omnicx.governance.permissions import Permission
from omnicx.governance.service import Principal

Purpose = Literal["service", "marketing", "analytics"]
Channel = Literal["*", "email", "sms", "wechat", "phone", "web", "app"]


class DecisionOut(BaseModel):
    id: int
    customer_id: int = Field(description="Where it was recorded (a merged-away id counts too)")
    purpose: str
    channel: str
    granted: bool
    source: str = Field(description="event, ui, api or cli")
    actor: str | None
    note: str | None
    event_seq: int | None
    occurred_at: datetime
    recorded_at: datetime

    @classmethod
    def of(cls, decision: ConsentDecision) -> DecisionOut:
        return cls(**asdict(decision))


class StatusOut(BaseModel):
    granted: bool
    by_default: bool = Field(description="No decision covers it: the purpose's default")
    decision_id: int | None
    decided_at: datetime | None

    @classmethod
    def of(cls, status: ConsentStatus) -> StatusOut:
        decision = status.decided_by
        return cls(
            granted=status.granted,
            by_default=decision is None,
            decision_id=decision.id if decision else None,
            decided_at=decision.occurred_at if decision else None,
        )


class ConsentOut(BaseModel):
    customer_id: int
    requested_id: int
    defaults: dict[str, bool]
    state: dict[str, dict[str, StatusOut]] = Field(
        description="purpose → channel (* and each channel) → state"
    )
    history: list[DecisionOut] = Field(description="Newest first")


class ConsentChange(BaseModel):
    purpose: Purpose
    channel: Channel = "*"
    granted: bool
    note: str | None = Field(None, max_length=NOTE_MAX)


class ConsentChanged(BaseModel):
    decision: DecisionOut
    state: StatusOut = Field(description="The (purpose, channel) state after the change")


CustomerId = Annotated[
    int, Path(ge=1, le=2**62, description="Customer id (merged ids are followed)")
]


def consent_router(find_subject: SubjectFinder) -> APIRouter:
    router = APIRouter(prefix="/api/v1/customers", tags=["consent"])

    @router.get(
        "/{customer_id}/consent",
        response_model=ConsentOut,
        summary="Consent per purpose and channel, with its history",
    )
    def get_consent(
        principal: Annotated[Principal, Depends(require(Permission.CUSTOMERS_READ))],
        customer_id: CustomerId,
        limit: Annotated[int, Query(ge=1, le=500, description="History entries")] = 100,
    ) -> ConsentOut:
        with get_database().read() as session:
            subject = find_subject(session, customer_id)
            decisions = decisions_of(session, subject)
        grid = consent_grid(decisions)
        return ConsentOut(
            customer_id=subject.customer_id,
            requested_id=customer_id,
            defaults={p: default_granted(p) for p in grid},
            state={p: {c: StatusOut.of(s) for c, s in row.items()} for p, row in grid.items()},
            history=[DecisionOut.of(d) for d in reversed(decisions[-limit:])],
        )

    @router.post(
        "/{customer_id}/consent",
        response_model=ConsentChanged,
        status_code=201,
        summary="Record a consent decision (audited)",
    )
    def post_consent(
        principal: Annotated[Principal, Depends(require(Permission.CONSENT_MANAGE))],
        customer_id: CustomerId,
        body: ConsentChange,
        request: Request,
    ) -> ConsentChanged:
        with get_database().write() as session:
            subject = find_subject(session, customer_id)
            decision = change_consent(
                session,
                principal,
                subject,
                body.purpose,
                body.channel,
                body.granted,
                note=body.note,
                source="api",
                ip=client_ip(request),
            )
            state = status_from(
                decisions_of(session, subject, body.purpose), body.purpose, body.channel
            )
        return ConsentChanged(decision=DecisionOut.of(decision), state=StatusOut.of(state))

    return router
