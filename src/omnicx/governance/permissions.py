"""What each role may do. The matrix is the one written in ``docs/security.md``.

Routes name the permission they need (``governance.api.require``); roles never appear in
route code, so changing who may do what is a change here, not a hunt through routers.
"""

from __future__ import annotations

from enum import StrEnum


class Permission(StrEnum):
    CUSTOMERS_READ = "customers:read"  # the 360 view, lookup, timeline (masked by role)
    CUSTOMERS_REVEAL = "customers:reveal"  # unmask a field, with a reason (audited)
    CUSTOMERS_UNMERGE = "customers:unmerge"  # split a customer
    # Record a customer's consent decision (agents take spoken opt-outs on the phone).
    CONSENT_MANAGE = "consent:manage"
    # The review queues: refused links, unmatched senders, CRM backfill.
    IDENTITY_REVIEW = "identity:review"
    ANALYTICS_READ = "analytics:read"  # aggregates and pseudonymous ids only
    AUDIT_READ = "audit:read"
    PRIVACY_MANAGE = "privacy:manage"  # export and erasure requests
    ADMIN = "admin:manage"  # users, roles, tokens, sources, keys, policies
    # Scrape GET /metrics: counts and lags only, never customer data. A monitoring
    # token is an admin token scoped to this alone (docs/operations.md).
    METRICS_READ = "metrics:read"
    # The service desk: read conversations (row-level: agents see their own and their
    # teams'), reply and take notes, and manage teams, agents and any assignment.
    DESK_READ = "desk:read"
    DESK_REPLY = "desk:reply"
    DESK_MANAGE = "desk:manage"


ROLE_PERMISSIONS: dict[str, frozenset[Permission]] = {
    "admin": frozenset(Permission),
    "supervisor": frozenset(
        {
            Permission.CUSTOMERS_READ,
            Permission.CUSTOMERS_REVEAL,
            Permission.CUSTOMERS_UNMERGE,
            Permission.CONSENT_MANAGE,
            Permission.IDENTITY_REVIEW,
            Permission.ANALYTICS_READ,
            Permission.AUDIT_READ,
            Permission.DESK_READ,
            Permission.DESK_REPLY,
            Permission.DESK_MANAGE,
        }
    ),
    "senior_agent": frozenset(
        {
            Permission.CUSTOMERS_READ,
            Permission.CUSTOMERS_REVEAL,
            Permission.CONSENT_MANAGE,
            Permission.DESK_READ,
            Permission.DESK_REPLY,
        }
    ),
    "agent": frozenset(
        {
            Permission.CUSTOMERS_READ,
            Permission.CONSENT_MANAGE,
            Permission.DESK_READ,
            Permission.DESK_REPLY,
        }
    ),
    "analyst": frozenset({Permission.ANALYTICS_READ}),
}


def allows(role: str, permission: Permission) -> bool:
    return permission in ROLE_PERMISSIONS.get(role, frozenset())
