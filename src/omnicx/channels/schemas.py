"""What ``/api/v1/channels`` takes and returns."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field, model_validator

from omnicx.channels.models import Channel
from omnicx.channels.service import entry_point, origins_of, settings_of, view_of
from omnicx.core.time import as_utc


class MailServerIn(BaseModel):
    """email: an SMTP or IMAP server (``starttls`` for SMTP on 587, ``ssl`` for 465/993)."""

    host: str = Field(min_length=1, max_length=255)
    port: int = Field(ge=1, le=65535)
    user: str | None = Field(None, max_length=255)
    password: str | None = Field(None, max_length=255)
    starttls: bool = False
    ssl: bool = False


class ChannelCreate(BaseModel):
    kind: str = Field("webchat", max_length=32, description="webchat, wechat, sms, email or phone")
    name: str = Field(min_length=1, max_length=100)
    origins: list[str] = Field(
        default_factory=list,
        max_length=50,
        description="webchat: web origins the widget may be used from (at least one)",
    )
    identity_secret_generate: bool = Field(
        False, description="webchat: generate a secret to sign logged-in users' ids (user_hash)"
    )
    prechat: bool = Field(
        False, description="webchat: ask name, phone and email before the first message"
    )
    app_id: str | None = Field(None, max_length=64, description="wechat: the AppID")
    app_secret: str | None = Field(None, max_length=64, description="wechat: the AppSecret")
    token: str | None = Field(None, max_length=32, description="wechat: the callback Token")
    aes_key: str | None = Field(
        None, max_length=43, description="wechat: the EncodingAESKey (compatible or safe mode)"
    )
    api_base: str | None = Field(
        None, max_length=200, description="wechat: the API's address (api.weixin.qq.com)"
    )
    service_template: str | None = Field(
        None, max_length=64, description="wechat: template id for replies outside 48 hours"
    )
    template_field: str | None = Field(
        None, max_length=32, description="wechat: the template's field for the reply (content)"
    )
    open_platform: str | None = Field(
        None, max_length=100, description="wechat: the unionids' collection (Open Platform)"
    )

    provider: str = Field("twilio", max_length=16, description="sms: twilio, aliyun or sink")
    from_number: str | None = Field(
        None, max_length=32, description="sms: the number texts are sent from"
    )
    account_sid: str | None = Field(None, max_length=34, description="sms twilio: account SID")
    auth_token: str | None = Field(None, max_length=64, description="sms twilio: auth token")
    access_key_id: str | None = Field(None, max_length=64, description="sms aliyun: AccessKey")
    access_key_secret: str | None = Field(
        None, max_length=64, description="sms aliyun: AccessKey secret"
    )
    sign_name: str | None = Field(None, max_length=12, description="sms aliyun: signature")
    template_code: str | None = Field(None, max_length=32, description="sms aliyun: template")
    api_base_url: str | None = Field(
        None, max_length=200, description="sms: the provider API's address"
    )
    address: str | None = Field(None, max_length=254, description="email: the mailbox")
    smtp: MailServerIn | None = Field(None, description="email: the server replies go through")
    imap: MailServerIn | None = Field(None, description="email: the server polled for mail")
    auth: str = Field("hmac", max_length=8, description="phone: how the PBX signs: hmac or token")
    region: str = Field("CN", max_length=2, description="phone: country of national numbers")
    extensions: dict[str, str] = Field(
        default_factory=dict, max_length=500, description="phone: extension → agent's email"
    )

    @model_validator(mode="after")
    def _what_the_kind_needs(self) -> ChannelCreate:
        if self.kind == "email" and not self.address:
            raise ValueError("an email channel needs its address")
        if self.kind == "webchat" and not self.origins:
            raise ValueError("a web chat channel needs at least one origin")
        if self.kind == "wechat" and not (self.app_id and self.app_secret and self.token):
            raise ValueError("a WeChat channel needs app_id, app_secret and token")
        return self


class ChannelOut(BaseModel):
    id: int
    kind: str
    name: str
    public_token: str
    origins: list[str]
    prechat: bool
    signed_users: bool = Field(description="Whether the channel has an identity secret")
    source_id: int
    enabled: bool
    created_at: datetime
    snippet: str = Field(description="What to paste: the widget's tag, or WeChat's callback URL")
    app_id: str | None = Field(None, description="wechat: the AppID")
    service_template: str | None = Field(
        None, description="wechat: the template replies go out as after 48 hours"
    )

    @classmethod
    def of(cls, channel: Channel, server_url: str) -> ChannelOut:
        return cls(
            id=channel.id,
            kind=channel.kind,
            name=channel.name,
            public_token=channel.public_token,
            origins=origins_of(channel),
            prechat=bool(settings_of(channel).get("prechat")),
            signed_users=view_of(channel).identity_secret is not None,
            source_id=channel.source_id,
            enabled=channel.enabled,
            created_at=as_utc(channel.created_at),
            snippet=entry_point(channel, server_url),
            app_id=settings_of(channel).get("app_id"),
            service_template=settings_of(channel).get("service_template"),
        )


class ChannelCreated(ChannelOut):
    identity_secret: str | None = Field(
        None, description="Shown once: the site's server signs user ids with it"
    )
