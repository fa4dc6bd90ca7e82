"""Media a follower sent (image, voice, video), fetched from WeChat's media API when
someone opens them: the message keeps only the media id and type.

WeChat keeps such media for 3 days; after that the API answers ``invalid media_id``
and the medium is gone (there is no attachment store to copy it into yet).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any
from weakref import WeakKeyDictionary

import httpx

from omnicx.channels.service import channel_by_id
from omnicx.channels.wechat.client import WechatApi
from omnicx.channels.wechat.tokens import AccessTokens, WechatApiError
from omnicx.core.database import Database
from omnicx.core.errors import NotFound, ServiceUnavailable

_tokens: WeakKeyDictionary[Database, AccessTokens] = WeakKeyDictionary()
_lock = threading.Lock()


def tokens_for(database: Database) -> AccessTokens:
    """This process's token store for ``database`` (one HTTP connection pool)."""
    with _lock:
        found = _tokens.get(database)
        if found is None:
            found = _tokens[database] = AccessTokens(database)
        return found


def fetch_media(database: Database, attachment: Mapping[str, Any]) -> tuple[bytes, str]:
    """The bytes and content type of a WeChat attachment (``NotFound`` once WeChat no
    longer has it, ``ServiceUnavailable`` when WeChat cannot be reached)."""
    media_id = str(attachment.get("media_id") or "")
    try:
        channel_id = int(attachment.get("channel_id") or 0)
    except (TypeError, ValueError):
        channel_id = 0
    if not media_id or not channel_id:
        raise NotFound("this attachment has no WeChat medium", field="attachment")
    with database.read() as session:
        channel = channel_by_id(session, channel_id)
    try:
        return WechatApi(channel, tokens_for(database)).media(media_id)
    except WechatApiError as exc:
        if exc.errcode == 40007:
            raise NotFound(
                "WeChat no longer has this medium (it keeps what followers send for 3 days)",
                field="attachment",
            ) from exc
        raise ServiceUnavailable("WeChat did not hand over the medium; try again") from exc
    except httpx.HTTPError as exc:
        raise ServiceUnavailable("WeChat did not hand over the medium; try again") from exc
