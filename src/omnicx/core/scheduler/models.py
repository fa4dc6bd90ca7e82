"""The table of scheduled jobs: one row per key, claimed by a runner with a lease."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from omnicx.core.crypto import EncryptedText
from omnicx.core.database import Base, BigId

PAYLOAD_PURPOSE = "scheduler.payload"
# pending → running (leased) → done | pending again (retry, re-schedule) | failed;
# pending or running → cancelled.
STATUSES = ("pending", "running", "done", "failed", "cancelled")
ACTIVE = ("pending", "running")


class ScheduledJob(Base):
    __tablename__ = "scheduled_jobs"
    # The runner's two claim queries: due pending jobs, and running jobs whose lease ran out.
    __table_args__ = (
        Index("ix_scheduled_jobs_due", "status", "due_at"),
        Index("ix_scheduled_jobs_lease", "status", "lease_expires_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(64))
    # What the job is about, e.g. ``sla.first_response:conversation:42``: one job per key.
    key: Mapped[str] = mapped_column(String(200), unique=True)
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # JSON, encrypted: a job about a conversation may carry what was said in it.
    payload: Mapped[str] = mapped_column(EncryptedText(PAYLOAD_PURPOSE))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # When the handler last ran to completion (a recurring job keeps its latest firing).
    fired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
