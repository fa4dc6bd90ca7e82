"""What identity, the customer projection, the event log and the outbox hold about a
person: found, exported and erased for governance's privacy requests.

``runtime.privacy`` registers these in ``governance.privacy.registry`` (governance cannot
import the domains above it). One module per place the data lives: ``person`` (who the
person is), ``events``, ``outbox``, ``profiles``, ``identity``.
"""

from __future__ import annotations

from omnicx.customers.privacy.events import EventsHandler
from omnicx.customers.privacy.identity import IdentityHandler
from omnicx.customers.privacy.outbox import OutboxHandler
from omnicx.customers.privacy.person import IdentityGraphLocator
from omnicx.customers.privacy.profiles import ProfilesHandler
from omnicx.governance.privacy import PersonalDataHandler

__all__ = [
    "EventsHandler",
    "IdentityGraphLocator",
    "IdentityHandler",
    "OutboxHandler",
    "ProfilesHandler",
    "handlers",
]


def handlers() -> tuple[PersonalDataHandler, ...]:
    """In erasure order: events first (they need the person's identifiers to find every
    event that carries them), then the outbox, profiles, and the identity graph last."""
    return (EventsHandler(), OutboxHandler(), ProfilesHandler(), IdentityHandler())
