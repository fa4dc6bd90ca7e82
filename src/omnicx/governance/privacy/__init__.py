"""Privacy requests: a person's export or erasure, tracked with a status and a deadline.

The person is the surviving customer and every customer ever merged into it. Their data
lives in domains above governance, which register handlers in ``registry`` (see
``runtime.privacy``). The package, by use case:

- ``registry``: the person (``Subject``) and what the domains provide (handlers, locator);
- ``requests``: the request record and its lifecycle;
- ``export``: the export bundle, built from live data, and its audited delivery;
- ``erasure``: the order of an erasure (suppress first, then each handler);
- ``redaction``: what a redacted event's payload becomes;
- ``runner``: running a request to completion, with the clean-up after commit.

Callers use the names re-exported here (``privacy.open_request``, ``privacy.registry``…).
"""

from omnicx.governance.privacy.erasure import erase_subject
from omnicx.governance.privacy.export import compile_export, deliver_export, export_bundle
from omnicx.governance.privacy.redaction import is_redacted, redact_events, redacted_payload
from omnicx.governance.privacy.registry import (
    Erasure,
    PersonalDataHandler,
    PrivacyRegistry,
    Progress,
    Subject,
    SubjectIdentifier,
    SubjectLocator,
    registry,
)
from omnicx.governance.privacy.requests import (
    KINDS,
    RUNNABLE,
    STATUSES,
    RequestKind,
    complete_request,
    fail_request,
    get_request,
    is_overdue,
    list_requests,
    open_request,
    result_of,
    start_request,
)
from omnicx.governance.privacy.runner import (
    CHECKPOINT_ATTEMPTS,
    WAL_WAITING,
    finish_waiting_erasures,
    reclaim_storage,
    run_request,
)

__all__ = [
    "CHECKPOINT_ATTEMPTS",
    "KINDS",
    "RUNNABLE",
    "STATUSES",
    "WAL_WAITING",
    "Erasure",
    "PersonalDataHandler",
    "PrivacyRegistry",
    "Progress",
    "RequestKind",
    "Subject",
    "SubjectIdentifier",
    "SubjectLocator",
    "compile_export",
    "complete_request",
    "deliver_export",
    "erase_subject",
    "export_bundle",
    "fail_request",
    "finish_waiting_erasures",
    "get_request",
    "is_overdue",
    "is_redacted",
    "list_requests",
    "open_request",
    "reclaim_storage",
    "redact_events",
    "redacted_payload",
    "registry",
    "result_of",
    "run_request",
    "start_request",
]
