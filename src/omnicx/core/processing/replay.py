"""Replay: rewind processor groups and rebuild their state from the events table.

The table is the one ordered record in both modes, so a replay is the same operation with
the table log and with JetStream: reset the groups' state, set their offsets back, and
run them again (``Pipeline``). Each offset remembers how far it had got before
(``replayed_through``), so events processed again rebuild state without producing again
what already left the system (see ``processors.REPLAYED``).

A replay refuses to start while workers run: their runners would race the rewound offsets.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from omnicx.core.errors import Conflict
from omnicx.core.eventlog.facts import Fact
from omnicx.core.eventlog.models import DeadLetter
from omnicx.core.i18n import msg
from omnicx.core.processing.groups import ProcessorGroup
from omnicx.core.processing.leases import running_workers
from omnicx.core.processing.offsets import lock_offsets, save_offsets


class WorkersRunning(Conflict):
    code = "workers_running"


def refuse_while_workers_run(session: Session) -> None:
    """Raise WorkersRunning, naming them, if any worker process is alive."""
    workers = running_workers(session)
    if workers:
        names = ", ".join(f"{w.host}:{w.pid}" for w in workers)
        raise WorkersRunning(
            msg(
                "{count} worker process(es) running ({names}): stop them (and `omnicx serve`, "
                "which runs one) before a replay",
                count=len(workers),
                names=names,
            )
        )


def rewind(session: Session, groups: Sequence[ProcessorGroup], start: int = 0) -> None:
    """Delete the groups' derived state and set them to read the log after ``start``.

    Upstream groups are reset before the ones that follow them. Open dead letters of
    their processors go: those events are processed again. The caller commits.
    """
    refuse_while_workers_run(session)
    for group in groups:
        for processor in group.processors:
            processor.reset(session)
        facts_before = session.scalar(select(func.max(Fact.id)).where(Fact.after_seq <= start))
        offsets = lock_offsets(session, group.processor_names)
        for offset in offsets.values():
            offset.replayed_through = max(offset.replayed_through, offset.position)
            offset.position = start
            # Facts are read again too (from where the events start, for a group after
            # identity): each follows the position it was recorded at.
            offset.fact_position = (facts_before or 0) if start else 0
        save_offsets(session, offsets.values())
        session.execute(
            delete(DeadLetter).where(
                DeadLetter.processor.in_(group.processor_names), DeadLetter.status == "open"
            )
        )
