"""Media a follower sent (image, voice, video), fetched from WeChat's media API after
the callback answered, and kept in the attachment store (``channels.media``).

The callback only schedules the fetch (``schedule_fetch``, in its own write, so it is
durable before WeChat gets its answer); a worker's scheduler runs ``fetch_media`` a
moment later, with the account's shared access token. The message keeps WeChat's media
id and type in its attachments either way; the stored file joins the message's
conversation (the store binds it when the desk has placed the message, or when it does).
WeChat keeps such media for 3 days: past that the API answers ``invalid media_id`` and the
fetch gives up, as it does for a file the store refuses (size, type).
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy.orm import Session

from omnicx.channels.media import media_store
from omnicx.channels.service import channel_by_id
from omnicx.channels.wechat.client import WechatApi
from omnicx.channels.wechat.tokens import AccessTokens, WechatApiError
from omnicx.core.database import Database
from omnicx.core.errors import InvalidInput, NotFound, PayloadTooLarge, UnsupportedMediaType
from omnicx.core.scheduler import FiredJob
from omnicx.core.scheduler.service import ensure_scheduled
from omnicx.core.time import utcnow

log = logging.getLogger(__name__)

MEDIA_JOB = "wechat.media"
# Longer than a fetch of WeChat's largest medium (10 MB) takes.
MEDIA_LEASE = timedelta(minutes=2)
EXPIRED = 40007  # invalid media_id: WeChat no longer has it

_tokens: WeakKeyDictionary[Database, AccessTokens] = WeakKeyDictionary()
_lock = threading.Lock()


def tokens_for(database: Database) -> AccessTokens:
    """This process's token store for ``database`` (one HTTP connection pool)."""
    with _lock:
        found = _tokens.get(database)
        if found is None:
            found = _tokens[database] = AccessTokens(database)
        return found


def schedule_fetch(
    session: Session, channel_id: int, message_id: str, openid: str, media: dict[str, Any]
) -> None:
    """Have a worker fetch and keep the medium of ``message_id`` (once: by key)."""
    ensure_scheduled(
        session,
        MEDIA_JOB,
        f"{MEDIA_JOB}:{channel_id}:{message_id}",
        utcnow(),
        {
            "channel_id": channel_id,
            "message_id": message_id,
            "openid": openid,
            "media_id": media["media_id"],
            "type": media["type"],
        },
    )


def fetch_media(database: Database, job: FiredJob) -> None:
    """The job: fetch the medium and keep it. Failures WeChat or the network may recover
    from are raised (the scheduler retries); a medium gone or refused is logged and left."""
    payload = job.payload
    with database.read() as session:
        channel = channel_by_id(session, int(payload["channel_id"]))
    media_id, message_id = str(payload["media_id"]), str(payload["message_id"])
    try:
        data, content_type, name = WechatApi(channel, tokens_for(database)).media(media_id)
    except WechatApiError as exc:
        if exc.errcode == EXPIRED:
            log.warning("WeChat medium of %s is gone (kept 3 days): not stored", message_id)
            return
        raise
    try:
        with database.write() as session:
            media_store().store(
                session,
                data,
                name=name or f"{payload['type']}-{media_id[:40]}",
                declared_type=content_type,
                channel="wechat",
                thread=str(payload["openid"]),
                message_id=message_id,
            )
    except (PayloadTooLarge, UnsupportedMediaType, InvalidInput, NotFound) as exc:
        log.warning("WeChat medium of %s not stored: %s", message_id, exc.message)
