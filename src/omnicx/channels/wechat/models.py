"""WeChat's own tables: the callbacks' nonces (replay refusal), when each follower last
wrote (the 48-hour reply window) and the account's access token (shared by processes)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from omnicx.core.crypto import EncryptedText
from omnicx.core.database import Base

TOKEN_PURPOSE = "wechat_access_tokens.token"


class WechatCallbackNonce(Base):
    """A signed callback seen: its (timestamp, nonce) may come again only with the same
    message (WeChat's retry), never with another one (a replayed signature)."""

    __tablename__ = "wechat_callback_nonces"
    __table_args__ = (Index("ix_wechat_callback_nonces_seen", "seen_at"),)

    channel_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    timestamp: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    # SHA-256 of the log message id of what the callback carried.
    message_key: Mapped[str] = mapped_column(String(200))
    seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class WechatContact(Base):
    """When a follower last interacted in a way that opens WeChat's 48-hour window for
    customer-service replies. Keyed by the openid's blind index, so it holds no value
    to erase beyond the row itself."""

    __tablename__ = "wechat_contacts"

    channel_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    openid_hash: Mapped[bytes] = mapped_column(LargeBinary(20), primary_key=True)
    last_interaction_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class WechatAccessToken(Base):
    """The account's access token, one per channel: every process uses the same one, as
    WeChat invalidates the previous token a few minutes after a new one is fetched."""

    __tablename__ = "wechat_access_tokens"

    channel_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    token: Mapped[str | None] = mapped_column(EncryptedText(TOKEN_PURPOSE), nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # A process fetching a new token holds this lease; the others wait for its result.
    refreshing_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
