"""Background work inside one process: the pipeline and the outbox dispatcher.

The embedded default runs them as threads beside the API. With the JetStream log the
pipeline is an asyncio task pulling from the stream; ``omnicx worker`` runs the same
loops without the API.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass, field

from omnicx.core.database import Database
from omnicx.core.settings import Settings
from omnicx.runtime.outbound import make_dispatcher
from omnicx.runtime.privacy import retention_timer
from omnicx.runtime.processors import make_pipeline

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
        if pipeline and not self.settings.uses_nats:
            runner = make_pipeline(self.database, self.settings)
            self._thread("omnicx-pipeline", lambda: runner.run_forever(self.stop))
        if pipeline and self.settings.uses_nats:
            self.nats_stop = asyncio.Event()
            runner = make_pipeline(self.database, self.settings)
            self.nats_task = asyncio.get_running_loop().create_task(
                runner.consume_jetstream(
                    self.settings.event_log, self.settings.nats_stream, self.nats_stop
                )
            )
            self.nats_task.add_done_callback(_report_end)
        if dispatcher:
            # Consent and suppression are checked on every send (runtime.outbound).
            outbox = make_dispatcher(self.database, self.settings)
            self._thread("omnicx-dispatcher", lambda: outbox.run_forever(self.stop))
            self._thread(
                "omnicx-retention", retention_timer(self.database, self.settings, self.stop)
            )

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
