"""Background work inside one process: the processor groups, the JetStream transport,
the outbox dispatcher and the scheduler.

Each group follows the events table in a thread of its own (on PostgreSQL, the one worker
holding its lease leads it; the others stand by). With the JetStream log an asyncio task
also moves messages from the stream into the table. ``omnicx worker`` runs these; the
embedded server starts one as a child process.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass, field

from omnicx.core.database import Database
from omnicx.core.processing import GroupRunner
from omnicx.core.processing.collector import tune_for_throughput
from omnicx.core.processing.leases import Presence
from omnicx.core.processing.transport import JetStreamTransport
from omnicx.core.settings import Settings
from omnicx.runtime.media import wire as wire_media
from omnicx.runtime.outbound import make_dispatcher
from omnicx.runtime.privacy import erasure_finisher
from omnicx.runtime.processors import all_groups
from omnicx.runtime.scheduling import start_scheduler

log = logging.getLogger(__name__)


@dataclass
class Workers:
    database: Database
    settings: Settings
    stop: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)
    nats_stop: asyncio.Event | None = None
    nats_task: asyncio.Task[None] | None = None

    def start(self, *, pipeline: bool = True, dispatcher: bool = True) -> None:
        tune_for_throughput()
        wire_media()  # channel adapters' jobs keep the media they fetch
        if pipeline:
            self._start_groups()
        if pipeline and self.settings.uses_nats:
            self.nats_stop = asyncio.Event()
            transport = JetStreamTransport(
                self.database,
                self.settings.event_log,
                self.settings.nats_stream,
                self.settings.processor_batch_size,
            )
            self.nats_task = asyncio.get_running_loop().create_task(transport.run(self.nats_stop))
            self.nats_task.add_done_callback(_report_end)
        if dispatcher:
            # Consent and suppression are checked on every send (runtime.outbound).
            outbox = make_dispatcher(self.database, self.settings)
            self._thread("omnicx-dispatcher", lambda: outbox.run_forever(self.stop))
            # Jobs due at a time (retention, and SLA clocks later): runtime.scheduling.
            jobs = start_scheduler(self.database, self.settings)
            self._thread("omnicx-scheduler", lambda: jobs.run_forever(self.stop))
            self._thread("omnicx-erasures", erasure_finisher(self.database, self.stop))

    def _start_groups(self) -> None:
        groups = all_groups()
        presence = Presence(self.database, [g.name for g in groups])
        presence.beat()  # visible at once: a replay started now must see this worker
        self._thread("omnicx-presence", lambda: presence.run(self.stop))
        for group in groups:
            runner = GroupRunner(self.database, group, self.settings.processor_batch_size)
            self._thread(f"omnicx-group-{group.name}", lambda r=runner: r.run_forever(self.stop))

    def _thread(self, name: str, target: object) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)  # type: ignore[arg-type]
        thread.start()
        self.threads.append(thread)

    async def aclose(self) -> None:
        self.stop.set()
        if self.nats_stop is not None:
            self.nats_stop.set()
        if self.nats_task is not None:
            try:
                await asyncio.wait_for(self.nats_task, timeout=10)
            except (TimeoutError, asyncio.CancelledError):
                self.nats_task.cancel()
            except Exception:
                pass  # already logged by _report_end; shutting down regardless
        for thread in self.threads:
            await asyncio.to_thread(thread.join, 10)


def _report_end(task: asyncio.Task[None]) -> None:
    """The consumer loop only ends when asked to; anything else must not go unnoticed."""
    if not task.cancelled() and task.exception() is not None:
        log.error("the event log consumer stopped", exc_info=task.exception())
