"""What ``/api/v1/channels`` takes and returns."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from omnicx.channels.models import Channel
from omnicx.channels.service import origins_of, settings_of, snippet, view_of
from omnicx.core.time import as_utc


class ChannelCreate(BaseModel):
    kind: str = Field("webchat", max_length=32, description="webchat (more channels to come)")
    name: str = Field(min_length=1, max_length=100)
    origins: list[str] = Field(
        min_length=1, max_length=50, description="Web origins the widget may be used from"
    )
    identity_secret_generate: bool = Field(
        False, description="Generate a secret to sign logged-in users' ids (user_hash)"
    )
    prechat: bool = Field(False, description="Ask name, phone and email before the first message")


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
    snippet: str

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
            snippet=snippet(channel, server_url),
        )


class ChannelCreated(ChannelOut):
    identity_secret: str | None = Field(
        None, description="Shown once: the site's server signs user ids with it"
    )
