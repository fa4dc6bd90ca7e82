"""``/api/v1/admin``: users and API tokens (admins only). Every change is audited."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, Field

from omnicx.core.database import get_database
from omnicx.core.time import as_utc
from omnicx.governance import users
from omnicx.governance.api import client_ip, require, tokens
from omnicx.governance.models import ApiToken, User
from omnicx.governance.permissions import Permission
from omnicx.governance.service import (
    Principal,
    issue_token,
    list_tokens,
    revoke_token,
    token_scopes,
)

router = APIRouter(prefix="/api/v1/admin", tags=["admin"])

# Every /api/v1/admin route, the policies' included, admits admins only.
Admin = Annotated[Principal, Depends(require(Permission.ADMIN))]
UserId = Annotated[int, Path(ge=1, le=2**31 - 1)]
TokenId = Annotated[int, Path(ge=1, le=2**31 - 1)]


def _utc(value: datetime | None) -> datetime | None:
    return None if value is None else as_utc(value)


class UserOut(BaseModel):
    id: int
    email: str
    display_name: str
    role: str
    disabled: bool
    second_factor: bool
    locked_until: datetime | None
    last_login_at: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, user: User) -> UserOut:
        return cls(
            id=user.id,
            email=user.email,
            display_name=user.display_name,
            role=user.role,
            disabled=user.disabled_at is not None,
            second_factor=user.totp_secret is not None,
            locked_until=_utc(user.locked_until),
            last_login_at=_utc(user.last_login_at),
            created_at=as_utc(user.created_at),
        )


class UserCreate(BaseModel):
    email: str = Field(min_length=3, max_length=254)
    display_name: str = Field(min_length=1, max_length=200)
    role: str = Field(max_length=32, description="admin, supervisor, senior_agent, agent, analyst")
    password: str | None = Field(
        None, min_length=1, max_length=1000, description="Omit to have one generated"
    )


class UserCreated(UserOut):
    # Only when the password was generated: shown this once, stored as an argon2 hash.
    password: str | None = None


class UserUpdate(BaseModel):
    role: str | None = Field(None, max_length=32)
    display_name: str | None = Field(None, max_length=200)
    disabled: bool | None = None


class TokenOut(BaseModel):
    id: int
    name: str
    prefix: str
    role: str
    scopes: list[str] | None
    user_id: int | None
    created_at: datetime
    revoked_at: datetime | None

    @classmethod
    def of(cls, row: ApiToken) -> TokenOut:
        return cls(
            id=row.id,
            name=row.name,
            prefix=row.prefix,
            role=row.role,
            scopes=token_scopes(row),
            user_id=row.user_id,
            created_at=as_utc(row.created_at),
            revoked_at=_utc(row.revoked_at),
        )


class TokenCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200, description="What the token is for")
    role: str = Field(max_length=32)
    scopes: list[Permission] | None = Field(
        None,
        max_length=len(Permission),
        description="Narrow the token to these permissions (a subset of the role's)",
    )


class TokenCreated(TokenOut):
    token: str = Field(description="Shown once; only its SHA-256 is stored")


@router.get("/users", response_model=list[UserOut], summary="List users")
def get_users(principal: Admin) -> list[UserOut]:
    with get_database().read() as session:
        return [UserOut.of(u) for u in users.list_users(session)]


@router.post("/users", response_model=UserCreated, status_code=201, summary="Add a user")
def post_user(principal: Admin, body: UserCreate, request: Request) -> UserCreated:
    with get_database().write() as session:
        user, password = users.create_user(
            session,
            principal,
            email=body.email,
            display_name=body.display_name,
            role=body.role,
            password=body.password,
            ip=client_ip(request),
        )
        return UserCreated(**UserOut.of(user).model_dump(), password=password)


@router.patch("/users/{user_id}", response_model=UserOut, summary="Change role, name, state")
def patch_user(principal: Admin, user_id: UserId, body: UserUpdate, request: Request) -> UserOut:
    with get_database().write() as session:
        user = users.update_user(
            session,
            principal,
            user_id,
            role=body.role,
            display_name=body.display_name,
            disabled=body.disabled,
            ip=client_ip(request),
        )
        return UserOut.of(user)


@router.delete(
    "/users/{user_id}/totp", response_model=UserOut, summary="Remove a user's second factor"
)
def delete_user_totp(principal: Admin, user_id: UserId, request: Request) -> UserOut:
    with get_database().write() as session:
        return UserOut.of(users.reset_totp(session, principal, user_id, client_ip(request)))


@router.get("/tokens", response_model=list[TokenOut], summary="List API tokens")
def get_tokens(principal: Admin, include_revoked: bool = False) -> list[TokenOut]:
    with get_database().read() as session:
        return [TokenOut.of(t) for t in list_tokens(session, include_revoked=include_revoked)]


@router.post("/tokens", response_model=TokenCreated, status_code=201, summary="Issue a token")
def post_token(principal: Admin, body: TokenCreate, request: Request) -> TokenCreated:
    owner = principal.id if principal.kind == "user" else None
    with get_database().write() as session:
        row, token = issue_token(
            session,
            body.name,
            body.role,
            owner,
            scopes=None if body.scopes is None else [s.value for s in body.scopes],
            actor=principal,
            ip=client_ip(request),
        )
        return TokenCreated(**TokenOut.of(row).model_dump(), token=token)


@router.delete("/tokens/{token_id}", response_model=TokenOut, summary="Revoke a token")
def delete_token(principal: Admin, token_id: TokenId, request: Request) -> TokenOut:
    with get_database().write() as session:
        row = revoke_token(session, principal, token_id, client_ip(request))
        out = TokenOut.of(row)
        digest = row.token_hash
    # After the commit: this process stops accepting it now; others within their cache TTL.
    tokens.forget(digest)
    return out
