"""What the phone tests share: a channel, and call events posted as a PBX posts them —
JSON signed with HMAC-SHA256 over the timestamp, a dot and the body (computed here with
the standard library, independently of the server's code), or with a bearer token."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

from omnicx.channels.phone.setup import create_phone_channel
from omnicx.core.database import Database

PUBLIC_URL = "https://cx.omnishop.cn"
CALLER = "+8613912345678"
HOTLINE = "4008001234"
AGENT_EMAIL = "zhang.wei@omnishop.cn"


@dataclass
class Phone:
    channel_id: int
    token: str
    secret: str
    auth: str = "hmac"

    @property
    def path(self) -> str:
        return f"/phone/cti/{self.token}"


def create_phone(
    db: Database,
    name: str = "400 热线",
    *,
    auth: str = "hmac",
    extensions: dict[str, str] | None = None,
) -> Phone:
    with db.write() as session:
        channel, secret = create_phone_channel(
            session, name, auth=auth, extensions=extensions, server_url=PUBLIC_URL
        )
        return Phone(channel.id, channel.public_token, secret, auth)


def call_id() -> str:
    return "c-" + uuid.uuid4().hex[:16]


def call(event: str, call: str, *, number: str = CALLER, **extra: Any) -> dict[str, Any]:
    """An inbound call's event as the PBX sends it."""
    body = {"event": event, "call_id": call, "from": number, "to": HOTLINE, "direction": "inbound"}
    return {**body, **extra}


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def signed_headers(phone: Phone, body: bytes, at: float | None = None) -> dict[str, str]:
    if phone.auth == "token":
        return {"Authorization": f"Bearer {phone.secret}", "Content-Type": "application/json"}
    timestamp = int(time.time() if at is None else at)
    return {
        "X-OmniCX-Timestamp": str(timestamp),
        "X-OmniCX-Signature": sign(phone.secret, timestamp, body),
        "Content-Type": "application/json",
    }


def post(
    client: Any,
    phone: Phone,
    payload: dict[str, Any] | bytes,
    at: float | None = None,
    **kwargs: Any,
) -> Any:
    """Post a call event, signed at ``at`` (now): a PBX signs every attempt anew."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    headers = kwargs.pop("headers", None) or signed_headers(phone, body, at)
    return client.post(phone.path, content=body, headers=headers, **kwargs)
