"""Creating a WeChat channel: the account's app id, app secret, callback token and
(for the compatible and safe modes) EncodingAESKey, checked before anything is stored.
The secrets are kept encrypted with the channel and never shown again."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from sqlalchemy.orm import Session

from omnicx.channels.models import Channel
from omnicx.channels.service import create_channel
from omnicx.channels.wechat.signatures import aes_key_bytes
from omnicx.core.errors import InvalidInput
from omnicx.governance.service import SYSTEM, Principal

DEFAULT_API_BASE = "https://api.weixin.qq.com"
APP_ID = re.compile(r"^[A-Za-z0-9_-]{6,64}$")
APP_SECRET = re.compile(r"^[A-Za-z0-9]{16,64}$")
# The WeChat console's own rule for the callback token.
TOKEN = re.compile(r"^[A-Za-z0-9]{3,32}$")


def api_base_of(value: str | None) -> str:
    """An http(s) address without a trailing slash (``InvalidInput`` if not)."""
    base = (value or DEFAULT_API_BASE).strip().rstrip("/")
    parts = urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query:
        raise InvalidInput(
            "the API base is an http(s) address such as https://api.weixin.qq.com",
            field="api_base",
        )
    return base


def create_wechat_channel(
    session: Session,
    name: str,
    *,
    app_id: str,
    app_secret: str,
    token: str,
    aes_key: str | None = None,
    api_base: str | None = None,
    actor: Principal = SYSTEM,
) -> Channel:
    """Check the account's settings and create the channel (audited, without secrets)."""
    app_id, app_secret, token = app_id.strip(), app_secret.strip(), token.strip()
    if not APP_ID.match(app_id):
        raise InvalidInput("the app id is the AppID of the WeChat console (wx…)", field="app_id")
    if not APP_SECRET.match(app_secret):
        raise InvalidInput(
            "the app secret is the AppSecret of the WeChat console (letters and digits)",
            field="app_secret",
        )
    if not TOKEN.match(token):
        raise InvalidInput("the token is 3-32 letters or digits", field="token")
    secrets = {"app_secret": app_secret, "token": token}
    if aes_key:
        try:
            aes_key_bytes(aes_key.strip())
        except ValueError as exc:
            raise InvalidInput(
                "the EncodingAESKey is the 43 characters of the WeChat console", field="aes_key"
            ) from exc
        secrets["aes_key"] = aes_key.strip()
    channel, _ = create_channel(
        session,
        "wechat",
        name,
        settings={"app_id": app_id, "api_base": api_base_of(api_base)},
        secrets=secrets,
        actor=actor,
    )
    return channel
