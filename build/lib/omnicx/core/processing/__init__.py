"""Processing: the processor groups that follow the events table, in both modes.

* ``processors`` — what a processor is, dead letters, transient failures;
* ``groups`` — a group's runner, with offsets of its own; ``Pipeline`` runs them all;
* ``transport`` — JetStream into the events table (production);
* ``leases`` — which worker leads a group, and which workers are alive;
* ``replay`` — rewinding groups; ``status`` — where each stands.
"""

from omnicx.core.processing.groups import GroupRunner, Pipeline, ProcessorGroup
from omnicx.core.processing.processors import (
    Processor,
    apply_processor,
    is_replayed,
    is_transient,
    replay_dead_letter,
)

__all__ = [
    "GroupRunner",
    "Pipeline",
    "Processor",
    "ProcessorGroup",
    "apply_processor",
    "is_replayed",
    "is_transient",
    "replay_dead_letter",
]
