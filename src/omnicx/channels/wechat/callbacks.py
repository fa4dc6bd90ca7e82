"""What the callback writes before the log: its (timestamp, nonce), so a signature is
never used for another message, and when the follower last opened the reply window."""

from __future__ import annotations

import hashlib
import time
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from omnicx.channels.wechat.inbound import OPENID_TYPE
from omnicx.channels.wechat.models import WechatContact
from omnicx.channels.wechat.signatures import TIMESTAMP_WINDOW_SECONDS, CallbackRefused
from omnicx.core.database import RawStatements
from omnicx.core.time import utcnow
from omnicx.governance.blind_index import blind_index

# Nonces older than the timestamp window can no longer be replayed (the window refuses
# them first); each process deletes them now and then.
PRUNE_EVERY_SECONDS = 60.0
_last_prune = 0.0


def openid_hash(app_id: str, openid: str) -> bytes:
    """The openid's blind index, the same identity keeps for it."""
    return blind_index(OPENID_TYPE, app_id.strip(), openid.strip())


# Raw statements: every callback runs these (the channel's hot path, ADR 0003); ON CONFLICT
# and RETURNING read the same on SQLite and PostgreSQL.
REMEMBER_NONCE = (
    "INSERT INTO wechat_callback_nonces (channel_id, timestamp, nonce, message_key, seen_at)"
    " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING nonce"
)
SEEN_NONCE = (
    "SELECT message_key FROM wechat_callback_nonces"
    " WHERE channel_id = ? AND timestamp = ? AND nonce = ?"
)
FORGET_NONCES = "DELETE FROM wechat_callback_nonces WHERE seen_at < ?"
FIRST_CONTACT = (
    "INSERT INTO wechat_contacts (channel_id, openid_hash, last_interaction_at) VALUES (?, ?, ?)"
    " ON CONFLICT DO NOTHING RETURNING channel_id"
)
INTERACTED = (
    "INSERT INTO wechat_contacts (channel_id, openid_hash, last_interaction_at) VALUES (?, ?, ?)"
    " ON CONFLICT (channel_id, openid_hash) DO UPDATE"
    " SET last_interaction_at = excluded.last_interaction_at"
    " WHERE wechat_contacts.last_interaction_at < excluded.last_interaction_at"
)


def record_callback(
    session: Session, channel_id: int, timestamp: int, nonce: str, message_key: str
) -> None:
    """Remember a verified callback's (timestamp, nonce). The same pair again is WeChat's
    retry if it carries the same message (fine: the log drops the copy); with another
    message it is a replayed signature (``CallbackRefused("replayed")``)."""
    raw = RawStatements(session)
    # Hashed: an event's key holds the openid, and this table keeps nothing personal.
    key = hashlib.sha256(message_key.encode()).hexdigest()
    added = raw.select(REMEMBER_NONCE, (channel_id, timestamp, nonce, key, raw.time(utcnow())))
    if not added:
        seen = raw.select(SEEN_NONCE, (channel_id, timestamp, nonce))
        if not seen or seen[0][0] != key:
            raise CallbackRefused("replayed")
    _prune(raw)


def _prune(raw: RawStatements) -> None:
    global _last_prune
    now = time.monotonic()
    if now - _last_prune < PRUNE_EVERY_SECONDS:
        return
    _last_prune = now
    horizon = utcnow() - timedelta(seconds=2 * TIMESTAMP_WINDOW_SECONDS)
    raw.many(FORGET_NONCES, [(raw.time(horizon),)])


def record_interaction(session: Session, channel_id: int, key: bytes, at: datetime) -> bool:
    """The follower interacted at ``at``: the reply window runs 48 hours from the latest
    (a retry or a late callback never moves it back). True the first time (the
    follower's first row here: ``users.schedule_user_info``)."""
    raw = RawStatements(session)
    if raw.select(FIRST_CONTACT, (channel_id, key, raw.time(at))):
        return True
    raw.many(INTERACTED, [(channel_id, key, raw.time(at))])
    return False


def last_interaction(session: Session, channel_id: int, key: bytes) -> datetime | None:
    return session.scalar(
        select(WechatContact.last_interaction_at).where(
            WechatContact.channel_id == channel_id, WechatContact.openid_hash == key
        )
    )
