"""The garbage collector of a process that moves many events.

A batch allocates hundreds of thousands of short-lived objects (rows, events, datetimes),
while the process holds millions of long-lived ones (the identifier cache, recent
payloads, SQLAlchemy's mappers). With CPython's default thresholds (700, 10, 10) the
young collections run every few hundred allocations and keep promoting batch objects,
which sets off full collections that walk every long-lived object: a quarter of the time
of resolving 200,000 events went there. Rarer young collections let a batch's objects
die young, and ``gc.freeze`` takes what start-up loaded out of the full collections.
Reference cycles are still collected, just in larger steps.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 50_000  # allocations between young collections (default 700)
MIDDLE_THRESHOLD = 20  # young collections per middle one (default 10)
OLD_THRESHOLD = 100  # middle collections per full one (default 10)

_tuned = False


def tune_for_throughput() -> None:
    """Set the thresholds above, once per process (later calls do nothing)."""
    global _tuned
    if _tuned:
        return
    _tuned = True
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, MIDDLE_THRESHOLD, OLD_THRESHOLD)
