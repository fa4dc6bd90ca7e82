"""``/api/v1/identity``: the review queue of links that a guardrail refused.

The identifier values on both sides are masked for the reviewer's role like any other
read of customer data (``governance.access``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlalchemy import select

from omnicx.core.database import get_database
from omnicx.core.time import as_utc
from omnicx.governance.access import view_for
from omnicx.governance.api import require
from omnicx.governance.masking import STARS
from omnicx.governance.permissions import Permission
from omnicx.governance.service import Principal
from omnicx.identity.models import Identifier, IdentityLink
from omnicx.identity.schemas import ConflictOut, ConflictSide
from omnicx.identity.service import open_conflicts

router = APIRouter(prefix="/api/v1/identity", tags=["identity"])


@router.get("/conflicts", response_model=list[ConflictOut], summary="Open identity conflicts")
def list_conflicts(
    principal: Annotated[Principal, Depends(require(Permission.IDENTITY_REVIEW))],
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[ConflictOut]:
    with get_database().read() as session:
        view = view_for(session, principal)
        out = []
        for conflict in open_conflicts(session, limit):
            link = session.get(IdentityLink, conflict.link_id)
            sides = []
            if link is not None:
                for identifier_id in (link.a_id, link.b_id):
                    ident = session.scalar(select(Identifier).where(Identifier.id == identifier_id))
                    if ident is not None:
                        value, _ = view.identifier(ident.id, ident.type, ident.value)
                        sides.append(
                            ConflictSide(
                                identifier_id=ident.id,
                                type=ident.type,
                                value=STARS if value is None else value,
                                customer_id=ident.customer_id,
                            )
                        )
            out.append(
                ConflictOut(
                    id=conflict.id,
                    link_id=conflict.link_id,
                    reason=conflict.reason,
                    status=conflict.status,
                    created_at=as_utc(conflict.created_at),
                    sides=sides,
                )
            )
        return out
