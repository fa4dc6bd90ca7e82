"""Alerts about new review items: counted for the console's badge, and, when
``OMNICX_REVIEW_WEBHOOK_URL`` is set, announced by a signed webhook through the outbox
(retried with backoff by the dispatcher; the body names ids and kinds, never values)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from omnicx.core.outbox import enqueue
from omnicx.core.settings import get_settings
from omnicx.core.time import utcnow
from omnicx.desk.review.models import BackfillItem, UnmatchedSender


def announce(session: Session, kind: str, item_id: int, detail: dict[str, Any]) -> None:
    """Queue the webhook of a new ``kind`` item (``unmatched`` or ``backfill``) in the
    caller's transaction, if one is configured. ``detail`` holds ids and names only."""
    settings = get_settings()
    if not settings.review_webhook_url:
        return
    secret = settings.review_webhook_secret  # required with the URL (core.settings)
    body = {
        "type": f"review.{kind}.opened",
        "item_id": item_id,
        "occurred_at": utcnow().isoformat(),
        **detail,
    }
    enqueue(
        session,
        "webhook",
        {
            "url": settings.review_webhook_url,
            "secret": secret.get_secret_value() if secret is not None else None,
            "body": body,
        },
    )


def open_counts(session: Session) -> dict[str, int]:
    """How many items wait in each queue (the badge; two indexed counts)."""
    unmatched = session.scalar(
        select(func.count()).select_from(UnmatchedSender).where(UnmatchedSender.status == "open")
    )
    backfill = session.scalar(
        select(func.count()).select_from(BackfillItem).where(BackfillItem.status == "open")
    )
    return {"unmatched": int(unmatched or 0), "backfill": int(backfill or 0)}
