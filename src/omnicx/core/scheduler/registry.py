"""What runs when a job of a kind falls due: handlers registered by kind.

Core cannot import the domains that act on a job (the desk's SLA clocks, retention in
governance), so they are registered from above: ``runtime`` wires them at start-up, as it
does for privacy. A handler is one of two sorts:

* **in the job's transaction** (the default): ``handler(session, job)`` runs inside the
  transaction that marks the job done, so its effects and the job's completion commit
  together or not at all. The handler must not commit (services never do).
* **detached**: ``handler(database, job)`` runs outside any transaction, for long work
  that commits in steps of its own (retention). It is run at least once: if the process
  dies before the job is marked done, the lease runs out and it runs again, so such a
  handler must be idempotent (retention skips a run when one started recently).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from omnicx.core.database import Database

DEFAULT_LEASE = timedelta(seconds=30)


@dataclass(frozen=True)
class FiredJob:
    """A job handed to its handler: ``attempt`` counts from 1."""

    id: int
    kind: str
    key: str
    due_at: datetime
    payload: dict[str, Any]
    attempt: int


InTransaction = Callable[[Session, FiredJob], None]
Detached = Callable[[Database, FiredJob], None]


@dataclass(frozen=True)
class Registration:
    handler: InTransaction | Detached
    detached: bool
    # How long a claim holds the job: a runner that dies lets go after this long.
    lease: timedelta


@dataclass
class Registry:
    kinds: dict[str, Registration] = field(default_factory=dict)

    def register(
        self, kind: str, handler: InTransaction, *, lease: timedelta = DEFAULT_LEASE
    ) -> None:
        """Run ``handler(session, job)`` in the transaction that marks the job done."""
        self.kinds[kind] = Registration(handler, detached=False, lease=lease)

    def register_detached(self, kind: str, handler: Detached, *, lease: timedelta) -> None:
        """Run ``handler(database, job)`` outside a transaction; at least once, so idempotent.

        ``lease`` must exceed the handler's usual running time, or another runner starts it
        again meanwhile.
        """
        self.kinds[kind] = Registration(handler, detached=True, lease=lease)

    def detached_kinds(self) -> list[str]:
        return sorted(kind for kind, r in self.kinds.items() if r.detached)

    def lease_of(self, kind: str) -> timedelta:
        registration = self.kinds.get(kind)
        return registration.lease if registration is not None else DEFAULT_LEASE


# The process's registry, filled by runtime wiring; tests may build their own.
handlers = Registry()
