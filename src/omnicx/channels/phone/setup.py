"""Creating a phone channel: how the PBX authenticates (an HMAC signature by default, or
a bearer token), the secret for it (generated, shown once, kept encrypted), the region
numbers without a country code are read in, and which extension is which agent."""

from __future__ import annotations

import re
import secrets as random
from collections.abc import Mapping
from urllib.parse import urlsplit

from sqlalchemy.orm import Session

from omnicx.channels.models import Channel
from omnicx.channels.phone.signatures import AUTH_MODES
from omnicx.channels.service import create_channel
from omnicx.core.errors import InvalidInput
from omnicx.core.i18n import msg
from omnicx.governance.service import SYSTEM, Principal

WEBHOOK_PATH = "/phone/cti/{token}"
REGION = re.compile(r"^[A-Z]{2}$")
EXTENSION = re.compile(r"^[0-9A-Za-z*#_-]{1,32}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def webhook_url(channel: Channel | str, server_url: str) -> str:
    """Where the PBX posts its call events."""
    token = channel if isinstance(channel, str) else channel.public_token
    return server_url.rstrip("/") + WEBHOOK_PATH.format(token=token)


def extensions_of(pairs: Mapping[str, str]) -> dict[str, str]:
    """Extensions → agents' emails, checked (``InvalidInput`` naming ``extensions``)."""
    checked: dict[str, str] = {}
    for extension, email in pairs.items():
        extension, email = str(extension).strip(), str(email).strip().lower()
        if not EXTENSION.match(extension) or not EMAIL.match(email):
            raise InvalidInput(
                msg("{value!r} is not an extension and an agent's email", value=extension[:40]),
                field="extensions",
            )
        checked[extension] = email
    return checked


def create_phone_channel(
    session: Session,
    name: str,
    *,
    auth: str = "hmac",
    region: str = "CN",
    extensions: Mapping[str, str] | None = None,
    server_url: str,
    actor: Principal = SYSTEM,
) -> tuple[Channel, str]:
    """Create the channel (audited, without the secret); returns it and its webhook
    secret, generated here and shown once."""
    if auth not in AUTH_MODES:
        raise InvalidInput(
            msg("the authentication is one of: {names}", names=", ".join(AUTH_MODES)),
            field="auth",
        )
    region = region.strip().upper()
    if not REGION.match(region):
        raise InvalidInput("the region is a two-letter country code such as CN", field="region")
    public = server_url.rstrip("/")
    if urlsplit(public).scheme not in ("http", "https"):
        raise InvalidInput("the public URL is an http(s) address", field="server_url")
    secret = random.token_hex(32)
    settings = {
        "auth": auth,
        "region": region,
        "public_url": public,
        "extensions": extensions_of(extensions or {}),
    }
    channel, _ = create_channel(
        session, "phone", name, settings=settings, secrets={"webhook_secret": secret}, actor=actor
    )
    return channel, secret
