"""``/api/v1/routing-rules``: which team a new conversation goes to, from what the CDP
knows of its customer (``desk.routing``). Desk readers list them; managers add and
remove them, audited (a rule decides which agents see a customer)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from omnicx.core.database import get_database
from omnicx.core.serialization import loads
from omnicx.desk import routing
from omnicx.desk.models import RoutingRule
from omnicx.desk.teams import team_by_ref
from omnicx.governance import audit
from omnicx.governance.api import client_ip, require
from omnicx.governance.permissions import Permission
from omnicx.governance.service import Principal

router = APIRouter(prefix="/api/v1", tags=["desk"])

Reader = Annotated[Principal, Depends(require(Permission.DESK_READ))]
Manager = Annotated[Principal, Depends(require(Permission.DESK_MANAGE))]
RuleId = Annotated[int, Path(ge=1, le=2**31 - 1)]


class RuleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    team_id: int = Field(ge=1, le=2**31 - 1)
    kind: Literal["tag", "trait", "always"] = Field(examples=["tag"])
    key: str = Field("", max_length=100, description="The trait, for a trait rule")
    value: str = Field("", max_length=200, examples=["高关怀"])
    skills: list[str] = Field(default_factory=list, max_length=20, examples=[["lang:zh"]])
    priority: Literal["low", "normal", "high", "urgent"] | None = None
    position: int = Field(100, ge=0, le=10_000, description="Lower is tried first")


class RuleOut(BaseModel):
    id: int
    position: int
    team_id: int
    kind: str
    key: str
    value: str
    skills: list[str]
    priority: str | None
    enabled: bool

    @classmethod
    def of(cls, rule: RoutingRule) -> RuleOut:
        fields = {name: getattr(rule, name) for name in cls.model_fields if name != "skills"}
        return cls(**fields, skills=loads(rule.skills))


def _audit(principal: Principal, request: Request, action: str, rule: RoutingRule) -> audit.Draft:
    return audit.draft(
        principal,
        f"desk.routing_rule.{action}",
        target_type="routing_rule",
        target_id=rule.id,
        detail={"team_id": rule.team_id, "kind": rule.kind},
        ip=client_ip(request),
    )


@router.get("/routing-rules", response_model=list[RuleOut], summary="Routing rules, in order")
def list_rules(principal: Reader) -> list[RuleOut]:
    with get_database().read() as session:
        return [RuleOut.of(r) for r in routing.list_rules(session)]


@router.post("/routing-rules", response_model=RuleOut, status_code=201, summary="Add a rule")
def add_rule(principal: Manager, request: Request, body: RuleIn) -> RuleOut:
    with get_database().write() as session:
        rule = routing.add_rule(
            session,
            team_by_ref(session, body.team_id),
            kind=body.kind,
            key=body.key.strip(),
            value=body.value.strip(),
            skills=body.skills,
            priority=body.priority,
            position=body.position,
        )
        audit.append(session, [_audit(principal, request, "create", rule)])
        return RuleOut.of(rule)


@router.delete(
    "/routing-rules/{rule_id}", status_code=204, response_class=Response, summary="Remove a rule"
)
def delete_rule(principal: Manager, request: Request, rule_id: RuleId) -> Response:
    with get_database().write() as session:
        rule = routing.get_rule(session, rule_id)
        audit.append(session, [_audit(principal, request, "delete", rule)])
        routing.remove_rule(session, rule)
    return Response(status_code=204)
