"""What the callback writes before the log: its (timestamp, nonce), so a signature is
never used for another message, and when the follower last opened the reply window."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from omnicx.channels.wechat.inbound import OPENID_TYPE
from omnicx.channels.wechat.models import WechatCallbackNonce, WechatContact
from omnicx.channels.wechat.signatures import TIMESTAMP_WINDOW_SECONDS, CallbackRefused
from omnicx.core.time import utcnow
from omnicx.governance.blind_index import blind_index

# Nonces older than the timestamp window can no longer be replayed (the window refuses
# them first); each process deletes them now and then.
PRUNE_EVERY_SECONDS = 60.0
_last_prune = 0.0


def openid_hash(app_id: str, openid: str) -> bytes:
    """The openid's blind index, the same identity keeps for it."""
    return blind_index(OPENID_TYPE, app_id.strip(), openid.strip())


def _insert(session: Session) -> Callable[[Any], Any]:
    """The dialect's INSERT, for ON CONFLICT (the same on SQLite and PostgreSQL)."""
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def record_callback(
    session: Session, channel_id: int, timestamp: int, nonce: str, message_key: str
) -> None:
    """Remember a verified callback's (timestamp, nonce). The same pair again is WeChat's
    retry if it carries the same message (fine: the log drops the copy); with another
    message it is a replayed signature (``CallbackRefused("replayed")``)."""
    # Hashed: an event's key holds the openid, and this table keeps nothing personal.
    key = hashlib.sha256(message_key.encode()).hexdigest()
    row = {
        "channel_id": channel_id,
        "timestamp": timestamp,
        "nonce": nonce,
        "message_key": key,
        "seen_at": utcnow(),
    }
    table = WechatCallbackNonce.__table__
    added = session.execute(
        _insert(session)(table).values(row).on_conflict_do_nothing().returning(table.c.nonce)
    ).first()
    if added is None:
        seen = session.scalar(
            select(WechatCallbackNonce.message_key).where(
                WechatCallbackNonce.channel_id == channel_id,
                WechatCallbackNonce.timestamp == timestamp,
                WechatCallbackNonce.nonce == nonce,
            )
        )
        if seen != key:
            raise CallbackRefused("replayed")
    _prune(session)


def _prune(session: Session) -> None:
    global _last_prune
    now = time.monotonic()
    if now - _last_prune < PRUNE_EVERY_SECONDS:
        return
    _last_prune = now
    horizon = utcnow() - timedelta(seconds=2 * TIMESTAMP_WINDOW_SECONDS)
    session.execute(delete(WechatCallbackNonce).where(WechatCallbackNonce.seen_at < horizon))


def record_interaction(session: Session, channel_id: int, key: bytes, at: datetime) -> None:
    """The follower interacted at ``at``: the reply window runs 48 hours from the latest
    (a retry or a late callback never moves it back)."""
    table = WechatContact.__table__
    stmt = _insert(session)(table).values(
        channel_id=channel_id, openid_hash=key, last_interaction_at=at
    )
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=[table.c.channel_id, table.c.openid_hash],
            set_={"last_interaction_at": stmt.excluded.last_interaction_at},
            where=table.c.last_interaction_at < stmt.excluded.last_interaction_at,
        )
    )


def last_interaction(session: Session, channel_id: int, key: bytes) -> datetime | None:
    return session.scalar(
        select(WechatContact.last_interaction_at).where(
            WechatContact.channel_id == channel_id, WechatContact.openid_hash == key
        )
    )
