"""WeChat's reply-window records in privacy requests: exported with the person's data,
erased with them. Each row is found by the openid's blind index, which identity keeps
among the person's identifiers."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from omnicx.channels.wechat.models import WechatContact
from omnicx.core.time import as_utc
from omnicx.governance.privacy import Erasure, Progress, Subject


class WechatContactsHandler:
    """When the person last opened a WeChat account's 48-hour reply window."""

    name = "wechat_contacts"

    def export(self, session: Session, subject: Subject, progress: Progress) -> Any:
        rows = session.scalars(
            select(WechatContact)
            .where(WechatContact.openid_hash.in_(sorted(subject.key_hashes)))
            .order_by(WechatContact.channel_id)
        )
        out = [
            {
                "channel_id": r.channel_id,
                "last_interaction_at": as_utc(r.last_interaction_at).isoformat(),
            }
            for r in rows
        ]
        progress(len(out))
        return out

    def erase(self, session: Session, erasure: Erasure) -> None:
        result = session.execute(
            delete(WechatContact).where(
                WechatContact.openid_hash.in_(sorted(erasure.subject.key_hashes))
            )
        )
        erased = int(getattr(result, "rowcount", 0) or 0)
        erasure.count("wechat_contacts", erased)
        if erased:
            erasure.touched_tables.add("wechat_contacts")
