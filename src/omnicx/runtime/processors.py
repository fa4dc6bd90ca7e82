"""The processors every event passes through, in order.

Kept above every domain so that higher domains (desk, automation, analytics) can add
their processors here without a lower domain importing them.
"""

from __future__ import annotations

from omnicx.core.database import Database
from omnicx.core.processing import Pipeline, Processor
from omnicx.core.settings import Settings
from omnicx.customers.consent import ConsentProcessor
from omnicx.customers.projection import CustomerProcessor


def all_processors() -> list[Processor]:
    # Consent reads the customer of each event from the timeline: after the customers.
    return [CustomerProcessor(), ConsentProcessor()]


def processor_named(name: str) -> Processor:
    for processor in all_processors():
        if processor.name == name:
            return processor
    raise KeyError(name)


def make_pipeline(database: Database, settings: Settings) -> Pipeline:
    return Pipeline(database, all_processors(), batch_size=settings.processor_batch_size)
