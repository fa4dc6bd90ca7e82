"""A worker that runs the scheduler with the SLA handlers, in a process of its own.

    python -m tests.desk.sla.sla_worker

Uses the database of the environment's settings, and the runtime's own wiring, so that
what it fires is what a production worker fires.
"""

from __future__ import annotations

import threading

from omnicx.core.database import get_database
from omnicx.core.scheduler import Registry, Runner
from omnicx.core.settings import get_settings
from omnicx.runtime.scheduling import wire_jobs

if __name__ == "__main__":
    registry = wire_jobs(get_settings(), Registry())
    Runner(get_database(), registry).run_forever(threading.Event())
