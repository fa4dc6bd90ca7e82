"""Authentication and authorization for every ``/api/v1`` route.

A route declares what it needs with ``Depends(require(Permission.X))``; the permission
is also recorded on the dependency so that tests can list every route's rule.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from omnicx.core.database import get_database
from omnicx.core.errors import Forbidden, Unauthenticated
from omnicx.governance.permissions import Permission, allows
from omnicx.governance.service import Principal, authenticate_token

bearer = HTTPBearer(auto_error=False, description="An API token from `omnicx tokens create`")


def require_principal(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise Unauthenticated("send an API token as 'Authorization: Bearer <token>'")
    with get_database().read() as session:
        return authenticate_token(session, credentials.credentials)


class require:  # lower case: it reads as a phrase, Depends(require(Permission.X))
    """A dependency that admits a principal whose role has ``permission``."""

    def __init__(self, permission: Permission):
        self.permission = permission

    def __call__(self, principal: Annotated[Principal, Depends(require_principal)]) -> Principal:
        if not allows(principal.role, self.permission):
            raise Forbidden(f"the {principal.role} role may not do {self.permission.value}")
        return principal
