"""The state of one identity-resolution batch, and how its decisions are written.

A batch keeps every identifier it touched (``nodes``), the identifiers of the customers
it may grow or merge (``members``), and its pending writes: new customers get ids at
once and are inserted before any identifier points at them (``_flush``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from omnicx.core.database import RawStatements, table_of
from omnicx.core.serialization import dumps
from omnicx.core.time import utcnow
from omnicx.identity.graph import Node
from omnicx.identity.models import Customer, Merge
from omnicx.identity.rules import Guardrails

IDENTIFIER_COLUMNS = "SELECT id, type, scope, key_hash, customer_id FROM identifiers"
IDENTIFIERS_BY_HASH = IDENTIFIER_COLUMNS + " WHERE key_hash IN ({in})"
IDENTIFIERS_BY_ID = IDENTIFIER_COLUMNS + " WHERE id IN ({in})"
IDENTIFIERS_OF_CUSTOMERS = IDENTIFIER_COLUMNS + " WHERE customer_id IN ({in})"
CUSTOMER_FLAGS = "SELECT id, conflicted FROM customers WHERE id IN ({in})"
LINKS_FROM = "SELECT a_id, b_id, observed_at, active FROM identity_links WHERE a_id IN ({in})"
ANY_BLOCK = "SELECT 1 FROM identity_link_blocks WHERE active = ? LIMIT 1"
ANY_DORMANT = "SELECT 1 FROM identity_dormant_customers LIMIT 1"
DORMANT_BY_ANCHOR = (
    "SELECT customer_id FROM identity_dormant_customers WHERE anchor_hash = ?"
    " ORDER BY customer_id LIMIT 1"
)
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
    # The event that caused each merge (None: a re-partition), in the order of ``merges``.
    merge_seqs: list[int | None] = field(default_factory=list)
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
        # New customers get ids at once and are inserted in bulk before identifiers point at
        # them: (id, anchor). Revived ones (a replay founding them again) are updated.
        self.pending_customers: list[tuple[int, bytes | None]] = []
        self.revived: list[int] = []
        # Whether a replay left customer ids waiting to be founded again (asked once).
        self.dormant: bool | None = None
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

    def _new_customer(self, anchor: bytes | None) -> int:
        """A customer for what ``anchor`` (the strongest identifier) founds: the id it had
        before a replay, if it is waiting for it, or a new one."""
        customer_id = self._revive(anchor)
        if customer_id is None:
            customer_id = self._allocate_customer_id()
            self.pending_customers.append((customer_id, anchor))
        self.conflicted[customer_id] = False
        self.members[customer_id] = {}
        self.result.created.add(customer_id)
        return customer_id

    def _revive(self, anchor: bytes | None) -> int | None:
        if anchor is None:
            return None
        if self.dormant is None:
            self.dormant = bool(self.raw.select(ANY_DORMANT))
        if not self.dormant:
            return None  # the usual case: no replay under way
        rows = self.raw.select(DORMANT_BY_ANCHOR, (anchor,))
        if not rows:
            return None
        customer_id = int(rows[0][0])
        self.raw.many(
            "DELETE FROM identity_dormant_customers WHERE customer_id = ?", [(customer_id,)]
        )
        self.revived.append(customer_id)
        return customer_id

    def _allocate_customer_id(self) -> int:
        # The identity group's offset lock makes this transaction the only one creating
        # customers, so max + 1 is ours alone (PostgreSQL's sequence is moved past it on
        # flush): no round trip per new customer.
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
                [
                    {"id": c, "conflicted": False, "created_at": now, "anchor_hash": anchor}
                    for c, anchor in self.pending_customers
                ],
            )
            if self.postgres:
                highest = max(c for c, _ in self.pending_customers)
                self.session.execute(
                    text("SELECT setval(pg_get_serial_sequence('customers', 'id'), :n)"),
                    {"n": highest},
                )
            self.pending_customers.clear()
        if self.revived:
            self.raw.many(
                "UPDATE customers SET merged_into_id = NULL, conflicted = ? WHERE id = ?",
                [(False, c) for c in self.revived],
            )
            self.revived.clear()
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
