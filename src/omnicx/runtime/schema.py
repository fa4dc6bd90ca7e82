"""Import every domain's tables so that ``Base.metadata`` knows them all (Alembic, tests)."""

from __future__ import annotations


def load_all_models() -> None:
    import omnicx.channels.email.models
    import omnicx.channels.models
    import omnicx.channels.phone.models
    import omnicx.channels.sms.models
    import omnicx.channels.webchat.models
    import omnicx.channels.wechat.models
    import omnicx.core.eventlog.facts
    import omnicx.core.eventlog.models
    import omnicx.core.outbox
    import omnicx.core.scheduler.models
    import omnicx.customers.models
    import omnicx.desk.attachments.models
    import omnicx.desk.calls
    import omnicx.desk.canned.models
    import omnicx.desk.models
    import omnicx.desk.review.models
    import omnicx.desk.sla.models
    import omnicx.desk.tickets.models
    import omnicx.governance.models
    import omnicx.identity.models
    import omnicx.ingest.models  # noqa: F401
