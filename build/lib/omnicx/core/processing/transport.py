"""JetStream → the events table: the production log's road into the one ordered record.

API processes publish to the stream (acknowledged to the sender once stored there);
every worker runs a ``JetStreamTransport`` that pulls batches from the shared durable
consumer, appends them to the events table (``append_rows``: a message already recorded
is a no-op) and acks them only once that transaction has committed. A crash before the
commit leaves them un-acked, so JetStream redelivers them after the ack wait; a crash
after it redelivers rows that are already there. Never lost, never doubled.

The processor groups then follow the table (``groups.py``), the same way in both modes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Sequence

from sqlalchemy.exc import DBAPIError

from omnicx.core.database import Database
from omnicx.core.eventlog.jetstream import JetStreamConsumer
from omnicx.core.eventlog.table import StoredRow, append_rows, appended
from omnicx.core.processing.processors import is_transient

log = logging.getLogger(__name__)

# Attempts of one batch before its messages go back to the stream, and the mean pause
# before the next attempt (times the attempt number, jittered).
BATCH_ATTEMPTS = 5
RETRY_PAUSE_SECONDS = 0.1


class JetStreamTransport:
    def __init__(self, database: Database, url: str, stream: str, batch_size: int = 1000):
        self.database = database
        self.url = url
        self.stream = stream
        self.batch_size = batch_size

    async def run(self, stop: asyncio.Event) -> None:
        """Move messages into the table until ``stop``; ack each batch after its commit.

        A batch that cannot be committed is handed back (nak) and redelivered, and the
        loop goes on.
        """
        consumer = JetStreamConsumer(self.url, self.stream)
        try:
            while not stop.is_set():
                try:
                    delivered = await consumer.fetch(self.batch_size, timeout=0.5)
                except Exception:
                    log.exception("fetching from the event log failed; reconnecting")
                    await consumer.close()
                    await _wait(stop, 1.0)
                    continue
                if not delivered:
                    continue
                try:
                    await asyncio.to_thread(self.record, [row for row, _ in delivered])
                except Exception:
                    log.exception("recording %s events failed; handing them back", len(delivered))
                    try:
                        await asyncio.gather(*(m.nak(delay=1.0) for _, m in delivered))
                    except Exception:
                        # Not acked either way: redelivered after the ack wait.
                        await consumer.close()
                    await _wait(stop, 1.0)
                    continue
                try:
                    # An ack is a publish, not a request: all of them go out in one flush.
                    await asyncio.gather(*(m.ack() for _, m in delivered))
                except Exception:
                    # Committed but not acked: redelivered later, and then a no-op.
                    log.exception("acking a recorded batch failed; reconnecting")
                    await consumer.close()
        finally:
            await consumer.close()

    def record(self, rows: Sequence[StoredRow]) -> None:
        """Append one delivered batch in one transaction, retried when the database says
        the failure was not the batch's (deadlock, lost connection) a bounded number of
        times."""
        for attempt in range(1, BATCH_ATTEMPTS + 1):
            try:
                with self.database.write() as session:
                    append_rows(session, rows)
                appended.set()
                return
            except DBAPIError as exc:
                if not is_transient(exc) or attempt == BATCH_ATTEMPTS:
                    raise
                log.warning(
                    "recording attempt %s of %s failed (%s); retrying",
                    attempt,
                    BATCH_ATTEMPTS,
                    str(exc.orig).splitlines()[0] if exc.orig else exc,
                )
                time.sleep(random.uniform(0.5, 1.5) * RETRY_PAUSE_SECONDS * attempt)


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    """Sleep, but wake at once when asked to stop."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
