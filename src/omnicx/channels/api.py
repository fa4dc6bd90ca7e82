"""``/api/v1/channels``: list and create channels (admins only; creation is audited)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from omnicx.channels.email.setup import MailServer, create_email_channel
from omnicx.channels.phone.setup import create_phone_channel
from omnicx.channels.schemas import ChannelCreate, ChannelCreated, ChannelOut, MailServerIn
from omnicx.channels.service import create_channel, list_channels
from omnicx.channels.sms.setup import SmsAccount, create_sms_channel
from omnicx.channels.wechat.setup import create_wechat_channel
from omnicx.core.database import get_database
from omnicx.governance.api import require
from omnicx.governance.permissions import Permission
from omnicx.governance.service import Principal

router = APIRouter(prefix="/api/v1/channels", tags=["channels"])
Admin = Annotated[Principal, Depends(require(Permission.ADMIN))]


def _server_url(request: Request) -> str:
    """Where the internet reaches us: ``OMNICX_PUBLIC_URL``, else the address asked."""
    public: str | None = request.app.state.settings.public_url
    return (public or str(request.base_url)).rstrip("/")


def _server(given: MailServerIn | None) -> MailServer | None:
    return MailServer(**given.model_dump()) if given is not None else None


@router.get("", response_model=list[ChannelOut], summary="List channels")
def get_channels(principal: Admin, request: Request) -> list[ChannelOut]:
    with get_database().read() as session:
        return [ChannelOut.of(c, _server_url(request)) for c in list_channels(session)]


@router.post("", response_model=ChannelCreated, status_code=201, summary="Create a channel")
def post_channel(principal: Admin, body: ChannelCreate, request: Request) -> ChannelCreated:
    """Create a channel and its ingest source; the answer holds the embed snippet (or
    WeChat's callback URL) and, if asked for, the identity secret (shown once)."""
    with get_database().write() as session:
        if body.kind == "wechat":
            channel, secret = (
                create_wechat_channel(
                    session,
                    body.name,
                    app_id=body.app_id or "",
                    app_secret=body.app_secret or "",
                    token=body.token or "",
                    aes_key=body.aes_key,
                    api_base=body.api_base,
                    service_template=body.service_template,
                    template_field=body.template_field,
                    open_platform=body.open_platform,
                    actor=principal,
                ),
                None,
            )
        elif body.kind == "sms":
            account = SmsAccount(
                body.provider, body.from_number, body.account_sid, body.auth_token,
                body.access_key_id, body.access_key_secret, body.sign_name,
                body.template_code, body.api_base_url,
            )  # fmt: skip
            # A sink's generated webhook token is shown once, like an identity secret.
            channel, secret = create_sms_channel(
                session, body.name, account, server_url=_server_url(request), actor=principal
            )
        elif body.kind == "phone":
            # The webhook secret is shown once, like an identity secret.
            channel, secret = create_phone_channel(
                session, body.name, auth=body.auth, region=body.region,
                extensions=body.extensions, server_url=_server_url(request), actor=principal,
            )  # fmt: skip
        elif body.kind == "email":
            channel, secret = (
                create_email_channel(
                    session,
                    body.name,
                    address=body.address or "",
                    smtp=_server(body.smtp),
                    imap=_server(body.imap),
                    actor=principal,
                ),
                None,
            )
        else:
            channel, secret = create_channel(
                session,
                body.kind,
                body.name,
                origins=body.origins,
                identity_secret=body.identity_secret_generate,
                prechat=body.prechat,
                actor=principal,
            )
        out = ChannelOut.of(channel, _server_url(request))
    return ChannelCreated(**out.model_dump(), identity_secret=secret)
