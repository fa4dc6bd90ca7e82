"""Token buckets, for what a channel open to the internet must bound (web chat's
visitors, refused callers' audit entries).

In-process: each API process keeps its own buckets, so with N processes behind a load
balancer a caller gets up to N times the rate.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass

MAX_KEYS = 50_000


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class TokenBuckets:
    """One bucket per key (a visitor, an IP), the least recently used dropped past
    ``max_keys`` so that a scan of addresses cannot grow memory without bound."""

    def __init__(self, burst: float, per_second: float, max_keys: int = MAX_KEYS):
        self.burst, self.per_second, self.max_keys = burst, per_second, max_keys
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def take(self, key: str, now: float | None = None) -> bool:
        """Spend one token for ``key``; False when its bucket is empty."""
        now = time.monotonic() if now is None else now
        bucket = self._buckets.pop(key, None) or _Bucket(self.burst, now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.per_second)
        bucket.updated = now
        self._buckets[key] = bucket
        if len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        if bucket.tokens < 1.0:
            return False
        bucket.tokens -= 1.0
        return True
