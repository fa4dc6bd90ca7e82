"""The durable scheduler: jobs that fire once at a time, claimed with a lease.

``service`` schedules, re-schedules and cancels jobs by key in the caller's transaction;
``registry`` holds the handler of each kind (wired from ``runtime``); ``runner`` claims
due jobs and fires them. See docs/architecture.md, "The scheduler".
"""

from omnicx.core.scheduler.models import STATUSES, ScheduledJob
from omnicx.core.scheduler.registry import FiredJob, Registry, handlers
from omnicx.core.scheduler.runner import Runner
from omnicx.core.scheduler.service import (
    cancel,
    due_backlog,
    ensure_scheduled,
    job_status,
    list_jobs,
    schedule,
    status_counts,
)

__all__ = [
    "STATUSES",
    "FiredJob",
    "Registry",
    "Runner",
    "ScheduledJob",
    "cancel",
    "due_backlog",
    "ensure_scheduled",
    "handlers",
    "job_status",
    "list_jobs",
    "schedule",
    "status_counts",
]
