"""The processor groups, in order: what every event passes through.

Kept above every domain so that higher domains (desk, automation, analytics) add their
groups here without a lower domain importing them. Every group after ``identity`` runs
after it: it never reads past identity's position and gets each event's customer.
"""

from __future__ import annotations

from omnicx.core.database import Database
from omnicx.core.processing import Pipeline, Processor, ProcessorGroup
from omnicx.core.processing.collector import tune_for_throughput
from omnicx.core.settings import Settings
from omnicx.customers.consent import ConsentProcessor
from omnicx.customers.projection import CustomerProcessor, attribute_events
from omnicx.desk.processor import DeskProcessor
from omnicx.desk.review.processor import ReviewProcessor


def all_groups() -> list[ProcessorGroup]:
    identity = ProcessorGroup("identity", (CustomerProcessor(),))
    consent = ProcessorGroup(
        "consent",
        (ConsentProcessor(),),
        after=identity,
        enrich=attribute_events,
        facts=ConsentProcessor.facts,
    )
    desk = ProcessorGroup(
        "desk",
        (DeskProcessor(),),
        after=identity,
        enrich=attribute_events,
        facts=DeskProcessor.facts,
        event_names=DeskProcessor.event_names,
    )
    review = ProcessorGroup(
        "review",
        (ReviewProcessor(),),
        after=desk,
        enrich=attribute_events,
        facts=ReviewProcessor.facts,
    )
    return [identity, consent, desk, review]


def groups_named(names: list[str] | None) -> list[ProcessorGroup]:
    """The named groups and the groups that run after them, in pipeline order (all of
    them for None): replaying identity changes what its followers were told. Raises
    KeyError."""
    groups = all_groups()
    if not names:
        return groups
    known = {g.name for g in groups}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise KeyError(", ".join(unknown))
    chosen = set(names)
    for group in groups:  # in order: a group comes after the one it follows
        if group.after is not None and group.after.name in chosen:
            chosen.add(group.name)
    return [g for g in groups if g.name in chosen]


def processor_named(name: str) -> tuple[ProcessorGroup, Processor]:
    """A processor and the group it runs in. Raises KeyError."""
    for group in all_groups():
        for processor in group.processors:
            if processor.name == name:
                return group, processor
    raise KeyError(name)


def make_pipeline(database: Database, settings: Settings) -> Pipeline:
    tune_for_throughput()
    return Pipeline(database, all_groups(), batch_size=settings.processor_batch_size)
