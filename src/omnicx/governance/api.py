"""Authentication and authorization for every ``/api/v1`` route.

A route declares what it needs with ``Depends(require(Permission.X))``; the permission
is also recorded on the dependency so that tests can list every route's rule.
"""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from omnicx.core.database import get_database
from omnicx.core.errors import Forbidden, Unauthenticated
from omnicx.core.i18n import msg
from omnicx.governance.permissions import Permission, allows
from omnicx.governance.secrets import token_digest
from omnicx.governance.service import Principal, authenticate_token

bearer = HTTPBearer(auto_error=False, description="An API token from `omnicx tokens create`")


class TokenCache:
    """Bearer token digest → principal, for a few seconds.

    Every API call presents its token; looking it up in the database each time (and in a
    worker thread, as blocking code must be) costs more than the 360 read itself. A
    revoked token therefore keeps working for at most ``TTL_SECONDS``.
    """

    TTL_SECONDS = 30.0

    def __init__(self) -> None:
        self._entries: dict[str, tuple[Principal, float]] = {}

    def get(self, token: str) -> Principal | None:
        entry = self._entries.get(token_digest(token))
        if entry is None or entry[1] < time.monotonic():
            return None
        return entry[0]

    def put(self, token: str, principal: Principal) -> None:
        if len(self._entries) > 10_000:
            self._entries.clear()
        self._entries[token_digest(token)] = (principal, time.monotonic() + self.TTL_SECONDS)

    def forget(self, digest: str) -> None:
        """Drop a revoked token (by its stored SHA-256) so it stops working here at once."""
        self._entries.pop(digest, None)


tokens = TokenCache()


def client_ip(request: Request) -> str | None:
    """The caller's address for the audit log (None when the transport has none)."""
    return request.client.host if request.client else None


def _authenticate(token: str) -> Principal:
    with get_database().read() as session:
        return authenticate_token(session, token)


async def require_principal(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise Unauthenticated("send an API token as 'Authorization: Bearer <token>'")
    principal = tokens.get(credentials.credentials)
    if principal is None:
        principal = await run_in_threadpool(_authenticate, credentials.credentials)
        tokens.put(credentials.credentials, principal)
    return principal


class require:  # lower case: it reads as a phrase, Depends(require(Permission.X))
    """A dependency that admits a principal whose role has ``permission``."""

    def __init__(self, permission: Permission):
        self.permission = permission

    async def __call__(
        self, principal: Annotated[Principal, Depends(require_principal)]
    ) -> Principal:
        if not allows(principal.role, self.permission):
            raise Forbidden(
                msg(
                    "the {role} role may not do {permission}",
                    role=principal.role,
                    permission=self.permission.value,
                )
            )
        if not principal.may(self.permission):
            raise Forbidden(
                msg("this token is not scoped for {permission}", permission=self.permission.value)
            )
        return principal
