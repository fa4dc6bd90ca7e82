"""The state of one identity-resolution batch, and how its decisions are written.

A batch keeps every identifier it touched (``nodes``), the identifiers of the customers
it may grow or merge (``members``), and its pending writes: new customers get ids at
once and are inserted before any identifier points at them (``_flush``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from omnicx.core.database import RawStatements, table_of
from omnicx.core.serialization import dumps
from omnicx.core.time import utcnow
from omnicx.identity.graph import Node
from omnicx.identity.models import Customer, Merge
from omnicx.identity.rules import Guardrails

CHUNK = 500
IDENTIFIER_COLUMNS = "SELECT id, type, scope, key_hash, customer_id FROM identifiers"
IDENTIFIERS_BY_HASH = IDENTIFIER_COLUMNS + " WHERE key_hash IN ({in})"
IDENTIFIERS_BY_ID = IDENTIFIER_COLUMNS + " WHERE id IN ({in})"
IDENTIFIERS_OF_CUSTOMERS = IDENTIFIER_COLUMNS + " WHERE customer_id IN ({in})"
CUSTOMER_FLAGS = "SELECT id, conflicted FROM customers WHERE id IN ({in})"
LINKS_FROM = "SELECT a_id, b_id, observed_at, active FROM identity_links WHERE a_id IN ({in})"
ANY_BLOCK = "SELECT 1 FROM identity_link_blocks LIMIT 1"
# Raw statements (see core.database.RawStatements): written as SQL so that a batch's
# hundreds of rows skip per-parameter work; ON CONFLICT works on SQLite and PostgreSQL.
INSERT_IDENTIFIER = (
    "INSERT INTO identifiers (type, scope, key_hash, value, customer_id, first_seen_at,"
    " source_event_seq) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key_hash) DO NOTHING"
)
INSERT_LINK = (
    "INSERT INTO identity_links (a_id, b_id, rule, confidence, source_event_seq, observed_at,"
    " active, deactivated_at, deactivated_reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (a_id, b_id) DO NOTHING"
)
MERGE_POINTER = text(
    "UPDATE customers SET merged_into_id = :survivor WHERE id = :loser OR merged_into_id = :loser"
)


@dataclass
class Resolution:
    """What a batch did to the graph, for the customer projection to follow."""

    attribution: dict[int, int | None] = field(default_factory=dict)
    merges: list[tuple[int, int]] = field(default_factory=list)
    reshaped: set[int] = field(default_factory=set)
    created: set[int] = field(default_factory=set)


def lock_key(key_hash: bytes) -> int:
    return int.from_bytes(key_hash[:8], "big", signed=True)


class BatchState:
    def __init__(self, session: Session, guardrails: Guardrails, actor: str = "system"):
        self.session = session
        self.guardrails = guardrails
        self.actor = actor
        self.postgres = session.get_bind().dialect.name == "postgresql"
        self.raw = RawStatements(session)
        self.nodes: dict[bytes, Node] = {}
        self.by_id: dict[int, Node] = {}
        self.conflicted: dict[int, bool] = {}
        self.dirty: dict[int, Node] = {}
        self.inactive_pairs: set[tuple[int, int]] = set()
        self.touched_pairs: set[tuple[int, int]] = set()
        # Identifiers per customer, loaded at most once per batch and kept current.
        self.members: dict[int, dict[int, Node]] = {}
        # New customers get ids at once and are inserted in bulk before identifiers point at them.
        self.pending_customers: list[int] = []
        self.next_customer_id: int | None = None
        self.pending_merges: list[dict[str, Any]] = []
        self.pending_pointers: list[dict[str, int]] = []
        self.result = Resolution()

    def _remember(self, row: Sequence[Any]) -> Node:
        """Keep an identifier row (id, type, scope, key_hash, customer_id) in the batch."""
        node = Node(row[0], row[1], row[2], bytes(row[3]), row[4])
        self.nodes[node.key_hash] = node
        self.by_id[node.id] = node
        return node

    def _load_ids(self, ids: Iterable[int]) -> None:
        missing = sorted(i for i in ids if i not in self.by_id)
        for row in self.raw.select_in(IDENTIFIERS_BY_ID, missing):
            self._remember(row)

    def _lock_customers(self, customers: set[int]) -> None:
        if not customers:
            return
        rows = self.session.execute(
            select(Customer.id, Customer.conflicted)
            .where(Customer.id.in_(sorted(customers)))
            .order_by(Customer.id)
            .with_for_update()
        )
        for row in rows:
            self.conflicted[row.id] = row.conflicted

    def _new_customer(self) -> int:
        customer_id = self._allocate_customer_id()
        self.pending_customers.append(customer_id)
        self.conflicted[customer_id] = False
        self.members[customer_id] = {}
        self.result.created.add(customer_id)
        return customer_id

    def _allocate_customer_id(self) -> int:
        if self.postgres:
            # The sequence hands out ids safely across concurrent workers.
            return int(
                self.session.execute(
                    text("SELECT nextval(pg_get_serial_sequence('customers', 'id'))")
                ).scalar_one()
            )
        # SQLite: this transaction holds the only write lock, so max + 1 is ours alone.
        if self.next_customer_id is None:
            highest = self.session.execute(text("SELECT max(id) FROM customers")).scalar()
            self.next_customer_id = int(highest or 0) + 1
        customer_id = self.next_customer_id
        self.next_customer_id += 1
        return customer_id

    def _assign(self, node: Node, customer_id: int) -> None:
        if node.customer_id is not None and node.customer_id in self.members:
            self.members[node.customer_id].pop(node.id, None)
        node.customer_id = customer_id
        if customer_id in self.members:
            self.members[customer_id][node.id] = node
        self.dirty[node.id] = node

    def _flush(self) -> None:
        """Write what the batch has decided so far (customers before identifiers)."""
        if self.pending_customers:
            now = utcnow()
            self.session.execute(
                table_of(Customer).insert(),
                [{"id": c, "conflicted": False, "created_at": now} for c in self.pending_customers],
            )
            self.pending_customers.clear()
        if self.pending_pointers:
            # In order: after a→b then b→c, a must point at c too.
            self.session.execute(MERGE_POINTER, self.pending_pointers)
            self.pending_pointers.clear()
        if self.pending_merges:
            self.session.execute(table_of(Merge).insert(), self.pending_merges)
            self.pending_merges.clear()
        if self.dirty:
            self.raw.many(
                "UPDATE identifiers SET customer_id = ? WHERE id = ?",
                [(n.customer_id, n.id) for n in self.dirty.values()],
            )
            self.dirty.clear()

    def _merge_row(
        self, survivor: int, loser: int, moved: Sequence[int], reason: str, event_seq: int | None
    ) -> dict[str, Any]:
        return {
            "survivor_id": survivor,
            "merged_id": loser,
            "identifier_ids": dumps(list(moved)),
            "reason": reason,
            "event_seq": event_seq,
            "actor": self.actor,
            "created_at": utcnow(),
            "undone_at": None,
        }
