"""Authentication dependencies shared by every ``/api/v1`` router."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from omnicx.core.database import get_database
from omnicx.core.errors import Unauthenticated
from omnicx.governance.service import Principal, authenticate_token

bearer = HTTPBearer(auto_error=False, description="An API token from `omnicx tokens create`")


def require_principal(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise Unauthenticated("send an API token as 'Authorization: Bearer <token>'")
    with get_database().read() as session:
        return authenticate_token(session, credentials.credentials)


CurrentPrincipal = Annotated[Principal, Depends(require_principal)]
