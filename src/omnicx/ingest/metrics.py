"""What the tracking API accepted and refused, per source, for ``/metrics``.

Counted in the process that answered the request, after the event log confirmed the
accepted events (so ``accepted`` means durable). Rejections are the calls refused one by
one, with their code (``docs/api.md``); a request refused as a whole before its events
are read (bad write key, malformed JSON) shows in ``omnicx_http_requests_total``.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable

from prometheus_client import Counter

from omnicx.core.metrics import REGISTRY

EVENTS_ACCEPTED = Counter(
    "omnicx_ingest_events_accepted",
    "Events the tracking API stored in the event log, by source id.",
    ["source"],
    registry=REGISTRY,
)
EVENTS_REJECTED = Counter(
    "omnicx_ingest_events_rejected",
    "Calls the tracking API refused, by source id and rejection code.",
    ["source", "code"],
    registry=REGISTRY,
)


def count_accepted(source_id: int, count: int) -> None:
    """Count events confirmed durable for a source."""
    if count:
        EVENTS_ACCEPTED.labels(str(source_id)).inc(count)


def count_rejected(source_id: int, codes: Iterable[str]) -> None:
    """Count refused calls of a source, one per code given (codes repeat)."""
    for code, count in collections.Counter(codes).items():
        EVENTS_REJECTED.labels(str(source_id), code).inc(count)
