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
# A template's id as the WeChat console shows it, and a field (keyword) of its content.
TEMPLATE_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
TEMPLATE_FIELD = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,31}$")
DEFAULT_TEMPLATE_FIELD = "content"


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


def service_template_of(template_id: str | None, field: str | None) -> dict[str, str]:
    """The settings of the template message replies go out as outside the 48-hour window
    (empty without one; ``InvalidInput`` for an id or field WeChat would not take)."""
    template_id = (template_id or "").strip()
    if not template_id:
        if field:
            raise InvalidInput("a template field needs a service template", field="template_field")
        return {}
    if not TEMPLATE_ID.match(template_id):
        raise InvalidInput(
            "the service template is a template id of the WeChat console (模板消息 → 模板ID)",
            field="service_template",
        )
    field = (field or DEFAULT_TEMPLATE_FIELD).strip()
    if not TEMPLATE_FIELD.match(field):
        raise InvalidInput(
            "the template field is the keyword of the template's content, e.g. content "
            "(for {{content.DATA}})",
            field="template_field",
        )
    return {"service_template": template_id, "template_field": field}


def create_wechat_channel(
    session: Session,
    name: str,
    *,
    app_id: str,
    app_secret: str,
    token: str,
    aes_key: str | None = None,
    api_base: str | None = None,
    service_template: str | None = None,
    template_field: str | None = None,
    open_platform: str | None = None,
    actor: Principal = SYSTEM,
) -> Channel:
    """Check the account's settings and create the channel (audited, without secrets).
    ``service_template``: the template replies go out as outside the 48-hour window,
    its ``template_field`` (``content`` by default) carrying the reply. ``open_platform``:
    the collection of the followers' unionids (``users.py``)."""
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
    extra = service_template_of(service_template, template_field)
    platform = (open_platform or "").strip()
    if len(platform) > 100:
        raise InvalidInput(
            "the Open Platform account is at most 100 characters", field="open_platform"
        )
    if platform:
        extra["open_platform"] = platform
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
        settings={"app_id": app_id, "api_base": api_base_of(api_base), **extra},
        secrets=secrets,
        actor=actor,
    )
    return channel
