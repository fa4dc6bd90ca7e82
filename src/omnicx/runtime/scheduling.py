"""The scheduler's handlers and recurring jobs, wired above every domain.

Core runs the jobs but cannot import the domains that act on them; each kind's handler
is registered here (retention, the desk's snooze wake-ups and SLA clocks, WeChat's media
fetches and user info; time triggers join as automation arrives).
"""

from __future__ import annotations

from functools import partial

from omnicx.channels.wechat.media import MEDIA_JOB, MEDIA_LEASE, fetch_media
from omnicx.channels.wechat.users import USER_INFO_JOB, USER_INFO_LEASE, fetch_user_info
from omnicx.core.database import Database
from omnicx.core.scheduler import Registry, Runner, handlers
from omnicx.core.settings import Settings
from omnicx.desk.sla.service import register_jobs as register_sla_jobs
from omnicx.desk.status import SNOOZE_JOB, wake_snoozed
from omnicx.runtime.privacy import (
    RETENTION_JOB,
    RETENTION_LEASE,
    run_scheduled_retention,
    schedule_retention,
)


def wire_jobs(settings: Settings, registry: Registry = handlers) -> Registry:
    """Register every kind's handler (idempotent)."""
    registry.register_detached(
        RETENTION_JOB, partial(run_scheduled_retention, settings), lease=RETENTION_LEASE
    )
    registry.register(SNOOZE_JOB, wake_snoozed)
    registry.register_detached(MEDIA_JOB, fetch_media, lease=MEDIA_LEASE)
    registry.register_detached(
        USER_INFO_JOB, partial(fetch_user_info, settings), lease=USER_INFO_LEASE
    )
    register_sla_jobs(registry)
    return registry


def start_scheduler(database: Database, settings: Settings) -> Runner:
    """The runner a worker runs, with the recurring jobs in place."""
    registry = wire_jobs(settings)
    schedule_retention(database, settings)
    return Runner(database, registry)
