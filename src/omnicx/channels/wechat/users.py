"""A follower's unionid, fetched once from WeChat's user-info API and put on the log.

WeChat's callbacks carry only the openid, which is scoped by the account's app id: the
same person has another openid on every other official account or mini-program. When
the account is bound to an Open Platform account, ``/cgi-bin/user/info`` also answers
their unionid, the same across that Open Platform's apps. The callback schedules the
fetch when a follower first interacts (follows or writes: their first row in
``wechat_contacts``); a worker's scheduler runs ``fetch_user_info``, and if a unionid
comes back appends an ``identify`` carrying both ids, so identity puts this openid's
customer together with the same person seen on another account.

The unionid's collection is the channel's ``open_platform`` setting (the name a site
gives its Open Platform account, as its member bindings use), else none: WeChat issues
each unionid for one Open Platform account, so the values of two never collide.
An account without the API's permission (48001, "api unauthorized") is logged once per
channel and process, and its fetches stop; other failures are retried with backoff.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from datetime import timedelta
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy.orm import Session

from omnicx.channels.messages import ExternalId
from omnicx.channels.service import ChannelView, channel_by_id
from omnicx.channels.wechat.client import WechatApi
from omnicx.channels.wechat.inbound import CHANNEL, OPENID_TYPE, sender_id
from omnicx.channels.wechat.media import tokens_for
from omnicx.channels.wechat.tokens import WechatApiError
from omnicx.core.database import Database
from omnicx.core.errors import InvalidInput
from omnicx.core.eventlog.base import LogEvent, make_event_log
from omnicx.core.scheduler import FiredJob
from omnicx.core.scheduler.service import ensure_scheduled
from omnicx.core.settings import Settings
from omnicx.core.time import utcnow
from omnicx.ingest.tracking import EventInvalid, to_log_event

log = logging.getLogger(__name__)

USER_INFO_JOB = "wechat.user_info"
USER_INFO_LEASE = timedelta(minutes=1)
UNIONID_TYPE = "wechat_unionid"
UNAUTHORIZED = 48001  # api unauthorized: the account may not call the user-info API

# The channels of each database known to lack the permission, logged once each.
_unauthorized: WeakKeyDictionary[Database, set[int]] = WeakKeyDictionary()
_lock = threading.Lock()


def schedule_user_info(session: Session, channel_id: int, key: bytes, openid: str) -> None:
    """Have a worker fetch the follower's unionid (once per follower: by key)."""
    ensure_scheduled(
        session,
        USER_INFO_JOB,
        f"{USER_INFO_JOB}:{channel_id}:{key.hex()}",
        utcnow(),
        {"channel_id": channel_id, "openid": openid},
    )


def fetch_user_info(settings: Settings, database: Database, job: FiredJob) -> None:
    """The job: ask WeChat for the follower's unionid and put it on the log. Failures
    WeChat or the network may recover from are raised (the scheduler retries)."""
    channel_id, openid = int(job.payload["channel_id"]), str(job.payload["openid"])
    with database.read() as session:
        channel = channel_by_id(session, channel_id)
    try:
        info = WechatApi(channel, tokens_for(database)).user_info(openid)
    except WechatApiError as exc:
        if exc.errcode != UNAUTHORIZED:
            raise
        with _lock:
            known = _unauthorized.setdefault(database, set())
            first = channel_id not in known
            known.add(channel_id)
        if first:
            log.warning(
                "WeChat channel %s may not call the user-info API (48001): no unionids", channel_id
            )
        return
    unionid = info.get("unionid")
    if not isinstance(unionid, str) or not unionid.strip():
        return  # not bound to an Open Platform account, or the follower left
    event = unionid_event(channel, openid, unionid.strip()[:200])
    asyncio.run(_append(settings, event))


def unionid_event(channel: ChannelView, openid: str, unionid: str) -> LogEvent:
    """The ``identify`` that says the openid and the unionid are one person."""
    app_id = str(channel.settings.get("app_id") or "")
    ids = [
        ExternalId(OPENID_TYPE, app_id, openid),
        ExternalId(UNIONID_TYPE, str(channel.settings.get("open_platform") or ""), unionid),
    ]
    raw: dict[str, Any] = {
        "type": "identify",
        "messageId": f"unionid-{openid}",
        "anonymousId": sender_id(app_id, openid),
        "traits": {},
        "context": {
            "channel": CHANNEL,
            "externalIds": [{"type": e.type, "collection": e.collection, "id": e.id} for e in ids],
        },
    }
    try:
        return to_log_event(
            channel.source_id, raw, event_type="identify", prefix="",
            received_at=utcnow(), sent_at=None,
        )  # fmt: skip
    except EventInvalid as exc:
        raise InvalidInput(exc.message, field=exc.field, code=exc.code) from exc


async def _append(settings: Settings, event: LogEvent) -> None:
    event_log = make_event_log(settings)
    try:
        await event_log.append([event])
    finally:
        await event_log.close()
