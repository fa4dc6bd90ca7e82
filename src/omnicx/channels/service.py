"""Creating and finding channels. Each channel gets its own ingest source, created
through ingest's service in the same transaction."""

from __future__ import annotations

import secrets as random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from html import escape
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from omnicx.channels.models import Channel
from omnicx.core.errors import Conflict, InvalidInput, NotFound, check_text
from omnicx.core.i18n import msg
from omnicx.core.serialization import dumps, loads
from omnicx.core.time import utcnow
from omnicx.governance import audit
from omnicx.governance.secrets import new_token
from omnicx.governance.service import SYSTEM, Principal
from omnicx.ingest.sources import create_source, normalize_origins, origin_allowed

KINDS = ("webchat", "wechat", "sms", "email", "phone")
IDENTITY_SECRET = "identity_secret"
# The public token's prefix tells an operator which kind of channel a URL points at.
TOKEN_PREFIXES = {"webchat": "wc", "wechat": "wx", "sms": "sms", "email": "em", "phone": "ph"}
WECHAT_CALLBACK_PATH = "/wechat/callback/"
SMS_INBOUND_PATH = "/sms/twilio/"
PHONE_WEBHOOK_PATH = "/phone/cti/"


@dataclass(frozen=True, slots=True)
class ChannelView:
    """What an adapter needs of a channel, read once per connection or request."""

    id: int
    kind: str
    name: str
    source_id: int
    origins: tuple[str, ...]
    settings: dict[str, Any]
    identity_secret: str | None
    enabled: bool
    # The provider's keys (WeChat's app secret, token, AES key); never shown again.
    secrets: Mapping[str, str] = field(default_factory=dict, repr=False)

    def allows_origin(self, origin: str | None) -> bool:
        return origin is not None and origin_allowed(origin, self.origins)


def origins_of(channel: Channel) -> list[str]:
    value = loads(channel.allowed_origins or "[]")
    return [str(v) for v in value] if isinstance(value, list) else []


def settings_of(channel: Channel) -> dict[str, Any]:
    value = loads(channel.settings or "{}")
    return value if isinstance(value, dict) else {}


def _secrets_of(channel: Channel) -> dict[str, Any]:
    value = loads(channel.secrets or "{}")
    return value if isinstance(value, dict) else {}


def view_of(channel: Channel) -> ChannelView:
    secrets = _secrets_of(channel)
    secret = secrets.get(IDENTITY_SECRET)
    return ChannelView(
        id=channel.id,
        kind=channel.kind,
        name=channel.name,
        source_id=channel.source_id,
        origins=tuple(origins_of(channel)),
        settings=settings_of(channel),
        identity_secret=str(secret) if secret else None,
        enabled=channel.enabled,
        secrets={str(k): str(v) for k, v in secrets.items() if v is not None},
    )


def snippet(channel: Channel, server_url: str) -> str:
    """The ``<script>`` tag a site pastes into its pages."""
    base = server_url.rstrip("/")
    return (
        f'<script src="{escape(base)}/widget.js" '
        f'data-omnicx-channel="{escape(channel.public_token)}" async></script>'
    )


def callback_url(channel: Channel, server_url: str) -> str:
    """The address a provider (WeChat) posts the channel's callbacks to."""
    return f"{server_url.rstrip('/')}{WECHAT_CALLBACK_PATH}{channel.public_token}"


def entry_point(channel: Channel, server_url: str) -> str:
    """What the operator pastes elsewhere: the site's snippet, the callback URL, or the
    mailbox's address (its MX or forwarding points at the SMTP listener)."""
    if channel.kind == "email":
        return str(settings_of(channel).get("address") or "")
    if channel.kind == "wechat":
        return callback_url(channel, server_url)
    if channel.kind == "sms":
        # Twilio signs over the address the channel was created for.
        public = settings_of(channel).get("public_url") or server_url
        return f"{str(public).rstrip('/')}{SMS_INBOUND_PATH}{channel.public_token}"
    if channel.kind == "phone":
        public = settings_of(channel).get("public_url") or server_url
        return f"{str(public).rstrip('/')}{PHONE_WEBHOOK_PATH}{channel.public_token}"
    return snippet(channel, server_url)


def create_channel(
    session: Session,
    kind: str,
    name: str,
    *,
    origins: Iterable[str] = (),
    identity_secret: bool = False,
    prechat: bool = False,
    settings: Mapping[str, Any] | None = None,
    secrets: Mapping[str, str] | None = None,
    actor: Principal = SYSTEM,
) -> tuple[Channel, str | None]:
    """Create a channel and its ingest source (audited); returns it and its identity
    secret when one was generated (the site's server signs user ids with it).
    ``settings`` and ``secrets`` are the kind's own, checked by its adapter
    (``channels.wechat.setup``); secrets are stored encrypted and never shown again."""
    if kind not in KINDS:
        raise InvalidInput(
            msg("a channel kind is one of: {kinds}", kinds=", ".join(KINDS)), field="kind"
        )
    name = name.strip()
    check_text(name, "name")
    if not 1 <= len(name) <= 100:
        raise InvalidInput("a channel name is 1-100 characters", field="name")
    allowed = normalize_origins(origins)
    if kind == "webchat" and not allowed:
        raise InvalidInput(
            "name the site's origins (e.g. https://shop.example.cn): the widget refuses others",
            field="origins",
        )
    if session.scalar(select(Channel.id).where(Channel.name == name)) is not None:
        raise Conflict(
            msg("a channel named {name!r} exists (omnicx channels list)", name=name), field="name"
        )
    secret = random.token_hex(32) if identity_secret else None
    kept_secrets = dict(secrets or {}) | ({IDENTITY_SECRET: secret} if secret else {})
    channel = Channel(
        kind=kind,
        name=name,
        public_token=new_token(TOKEN_PREFIXES[kind]),
        allowed_origins=dumps(allowed),
        settings=dumps({"prechat": prechat, **(settings or {})}),
        secrets=dumps(kept_secrets),
        source_id=0,  # set below, once the id names the source
        enabled=True,
        created_at=utcnow(),
    )
    session.add(channel)
    session.flush()
    source, _ = create_source(session, f"channel-{kind}-{channel.id}", kind, actor=actor)
    channel.source_id = source.id
    audit.record(
        session,
        actor,
        "channel.create",
        target_type="channel",
        target_id=channel.id,
        detail={
            "kind": kind,
            "name": name,
            "origins": allowed,
            "source_id": source.id,
            "identity_secret": secret is not None,
            # Which secrets were set, never their values.
            "secrets": sorted(kept_secrets),
        },
    )
    return channel, secret


def list_channels(session: Session) -> list[Channel]:
    return list(session.scalars(select(Channel).order_by(Channel.id)))


def channel_for_token(session: Session, token: str, kind: str | None = None) -> ChannelView:
    """The enabled channel (of ``kind``, if named) whose public token this is
    (``NotFound`` otherwise)."""
    channel = session.scalar(select(Channel).where(Channel.public_token == token[:64]))
    if channel is None or not channel.enabled or kind not in (None, channel.kind):
        raise NotFound("no such chat channel", field="token")
    return view_of(channel)


def channel_by_id(session: Session, channel_id: int) -> ChannelView:
    channel = session.get(Channel, channel_id)
    if channel is None:
        raise NotFound(msg("no channel {channel_id}", channel_id=channel_id), field="channel_id")
    return view_of(channel)
