"""``/api/v1/admin/policies``: the field classification and each role's access policy.

GET answers the effective policies (defaults overlaid with changes); PUT replaces them.
Every change is audited as ``policy.change`` with before and after.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from omnicx.core.database import get_database
from omnicx.governance.admin_api import Admin
from omnicx.governance.policies import PolicyDocument, RolePolicy
from omnicx.governance.policy_store import (
    load_document,
    role_policy,
    set_document,
    set_role_policy,
)

router = APIRouter(prefix="/api/v1/admin/policies", tags=["admin"])

Role = Annotated[str, Path(max_length=32, description="admin, supervisor, senior_agent, …")]


@router.get("", response_model=PolicyDocument, summary="Classification and role policies")
def get_policies(principal: Admin) -> PolicyDocument:
    with get_database().read() as session:
        return load_document(session)


@router.put("", response_model=PolicyDocument, summary="Replace classification and policies")
def put_policies(principal: Admin, body: PolicyDocument) -> PolicyDocument:
    """Keys in ``fields`` override the default classification (a default key you leave
    out keeps its default); roles you leave out go back to their default policy."""
    with get_database().write() as session:
        document = set_document(session, principal, body)
    return document


@router.get("/{role}", response_model=RolePolicy, summary="One role's access policy")
def get_role_policy(principal: Admin, role: Role) -> RolePolicy:
    with get_database().read() as session:
        return role_policy(session, role)


@router.put("/{role}", response_model=RolePolicy, summary="Replace one role's access policy")
def put_role_policy(principal: Admin, role: Role, body: RolePolicy) -> RolePolicy:
    with get_database().write() as session:
        policy = set_role_policy(session, principal, role, body)
    return policy


@router.delete("/{role}", response_model=RolePolicy, summary="Restore a role's default policy")
def reset_role_policy(principal: Admin, role: Role) -> RolePolicy:
    with get_database().write() as session:
        policy = set_role_policy(session, principal, role, None)
    return policy
