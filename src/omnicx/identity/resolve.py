"""Deterministic identity resolution of a batch of events.

For each event: find or create its identifiers, record the links between them (the
strongest identifier anchors a star), then decide the customer. The common cases are
cheap (all identifiers already in one customer; a new identifier joining one; two
customers merging) and give the same answer as the canonical partition of
``graph.partition``, which is used whenever a guardrail is in play. The caller owns the
transaction; on PostgreSQL, advisory locks on the batch's identifiers and row locks on
the customers involved let several workers resolve at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, and_, bindparam, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from omnicx.core.database import RawStatements, table_of
from omnicx.core.eventlog.base import LogEvent
from omnicx.core.serialization import dumps
from omnicx.core.time import as_datetime, as_utc, utcnow
from omnicx.identity.extract import Candidate
from omnicx.identity.graph import Edge, Node, assign_customers, partition
from omnicx.identity.models import (
    Customer,
    Identifier,
    IdentityConflict,
    IdentityLink,
    LinkBlock,
    Merge,
)
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


def chunks(items: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def lock_key(key_hash: bytes) -> int:
    return int.from_bytes(key_hash[:8], "big", signed=True)


class Resolver:
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

    # -- batch entry point -------------------------------------------------------------

    def resolve(self, batch: Sequence[tuple[LogEvent, list[Candidate]]]) -> Resolution:
        hashes = sorted({c.key_hash for _, cands in batch for c in cands})
        if not hashes:
            for event, _ in batch:
                self.result.attribution[event.seq or 0] = None
            return self.result
        if self.postgres:
            self._lock_hashes(hashes)
        self._load_hashes(hashes)
        self._create_missing(batch)
        self._load_flags({n.customer_id for n in self.nodes.values() if n.customer_id is not None})
        self._record_links(batch)
        self._prefetch_members(batch)
        for event, cands in batch:
            if cands:
                self._resolve_event(event, cands)
        self._flush()
        for event, cands in batch:
            self.result.attribution[event.seq or 0] = self.customer_of(cands)
        return self.result

    def customer_of(self, cands: Sequence[Candidate]) -> int | None:
        """The customer of the strongest identifier that has one."""
        for cand in cands:
            node = self.nodes.get(cand.key_hash)
            if node is not None and node.customer_id is not None:
                return node.customer_id
        return None

    # -- loading and creating identifiers ----------------------------------------------

    def _lock_hashes(self, hashes: Sequence[bytes]) -> None:
        keys = sorted({lock_key(h) for h in hashes})
        self.session.execute(
            text(
                "SELECT pg_advisory_xact_lock(k) FROM "
                "(SELECT unnest(CAST(:keys AS bigint[])) AS k ORDER BY 1) AS ordered"
            ),
            {"keys": keys},
        )

    def _remember(self, row: Sequence[Any]) -> Node:
        """Keep an identifier row (id, type, scope, key_hash, customer_id) in the batch."""
        node = Node(row[0], row[1], row[2], bytes(row[3]), row[4])
        self.nodes[node.key_hash] = node
        self.by_id[node.id] = node
        return node

    def _load_hashes(self, hashes: Sequence[bytes]) -> None:
        for row in self.raw.select_in(IDENTIFIERS_BY_HASH, hashes):
            self._remember(row)

    def _load_ids(self, ids: Iterable[int]) -> None:
        missing = sorted(i for i in ids if i not in self.by_id)
        for row in self.raw.select_in(IDENTIFIERS_BY_ID, missing):
            self._remember(row)

    def _create_missing(self, batch: Sequence[tuple[LogEvent, list[Candidate]]]) -> None:
        rows: dict[bytes, dict[str, Any]] = {}
        for event, cands in batch:
            for c in cands:
                if c.key_hash in self.nodes:
                    continue
                seen = rows.get(c.key_hash)
                if seen is None or event.occurred_at < seen["first_seen_at"]:
                    rows[c.key_hash] = {
                        "type": c.type,
                        "scope": c.scope,
                        "key_hash": c.key_hash,
                        "value": c.value,
                        "customer_id": None,
                        "first_seen_at": event.occurred_at,
                        "source_event_seq": event.seq,
                    }
        if not rows:
            return
        self.raw.many(
            INSERT_IDENTIFIER,
            [
                (
                    r["type"],
                    r["scope"],
                    r["key_hash"],
                    r["value"],
                    None,
                    self.raw.time(r["first_seen_at"]),
                    r["source_event_seq"],
                )
                for r in rows.values()
            ],
        )
        self._load_hashes(list(rows))

    # -- links ---------------------------------------------------------------------------

    def _record_links(self, batch: Sequence[tuple[LogEvent, list[Candidate]]]) -> None:
        """Insert new links (star from the strongest identifier) with their provenance.

        A link keeps its earliest observation, whatever order events arrive in.
        """
        wanted: dict[tuple[int, int], tuple[datetime, int | None, bytes, bytes]] = {}
        for event, cands in batch:
            if len(cands) < 2:
                continue
            anchor = self.nodes[cands[0].key_hash]
            for cand in cands[1:]:
                other = self.nodes[cand.key_hash]
                first, second = sorted((anchor, other), key=lambda n: n.id)
                pair = (first.id, second.id)
                known = wanted.get(pair)
                if known is None or event.occurred_at < known[0]:
                    wanted[pair] = (event.occurred_at, event.seq, first.key_hash, second.key_hash)
        if not wanted:
            return
        existing: dict[tuple[int, int], tuple[datetime, bool]] = {}
        for a_id, b_id, observed_at, active in self.raw.select_in(
            LINKS_FROM, sorted({a for a, _ in wanted})
        ):
            if (a_id, b_id) in wanted:
                existing[(a_id, b_id)] = (as_datetime(observed_at), bool(active))
        fresh = [v for pair, v in wanted.items() if pair not in existing]
        blocked = self._blocked_pairs({h for v in fresh for h in v[2:]})
        new_rows: list[tuple[Any, ...]] = []
        earlier: list[dict[str, Any]] = []
        for pair, (observed, seq, ha, hb) in wanted.items():
            if pair in existing:
                old_observed, active = existing[pair]
                if not active:
                    self.inactive_pairs.add(pair)
                elif observed < old_observed:
                    earlier.append({"a": pair[0], "b": pair[1], "t": observed, "s": seq})
                    self.touched_pairs.add(pair)
                continue
            is_blocked = (min(ha, hb), max(ha, hb)) in blocked
            new_rows.append(
                (
                    pair[0],
                    pair[1],
                    "co_occurrence",
                    1.0,
                    seq,
                    self.raw.time(observed),
                    not is_blocked,
                    self.raw.time(utcnow()) if is_blocked else None,
                    "blocked by an earlier unmerge" if is_blocked else None,
                )
            )
            (self.inactive_pairs if is_blocked else self.touched_pairs).add(pair)
        self.raw.many(INSERT_LINK, new_rows)
        if earlier:
            self.session.execute(
                text(
                    "UPDATE identity_links SET observed_at = :t, source_event_seq = :s "
                    "WHERE a_id = :a AND b_id = :b AND observed_at > :t"
                ).bindparams(bindparam("t", type_=DateTime(timezone=True))),
                earlier,
            )

    def _blocked_pairs(self, hashes: set[bytes]) -> set[tuple[bytes, bytes]]:
        found: set[tuple[bytes, bytes]] = set()
        if not hashes or self.session.execute(text(ANY_BLOCK)).first() is None:
            return found  # the usual case: nobody has ever unmerged anything
        for part in chunks(sorted(hashes)):
            rows = self.session.execute(
                select(LinkBlock.a_hash, LinkBlock.b_hash).where(
                    or_(LinkBlock.a_hash.in_(part), LinkBlock.b_hash.in_(part))
                )
            )
            found.update((row.a_hash, row.b_hash) for row in rows)
        return found

    # -- deciding the customer of one event ----------------------------------------------

    def _event_pairs(self, nodes: Sequence[Node]) -> list[tuple[int, int]]:
        anchor = nodes[0]
        return [tuple(sorted((anchor.id, n.id))) for n in nodes[1:]]  # type: ignore[misc]

    def _resolve_event(self, event: LogEvent, cands: Sequence[Candidate]) -> None:
        nodes = [self.nodes[c.key_hash] for c in cands]
        customers = self._current_customers(nodes)
        pairs = self._event_pairs(nodes)
        unassigned = [n for n in nodes if n.customer_id is None]
        if any(p in self.inactive_pairs for p in pairs):
            self.repartition([n.id for n in nodes])
            return
        conflicted = any(self.conflicted.get(c) for c in customers)
        if conflicted:
            if unassigned or len(customers) > 1 or any(p in self.touched_pairs for p in pairs):
                self.repartition([n.id for n in nodes])
            return
        if len(customers) == 1 and not unassigned:
            return
        members = [n.member for n in unassigned]
        for node in self._members_of(customers):
            members.append(node.member)
        if self.guardrails.violation(members):
            self.repartition([n.id for n in nodes])
            return
        survivor = min(customers) if customers else self._new_customer()
        for loser in sorted(customers - {survivor}):
            self._merge(loser, survivor, reason="shared_identifier", event_seq=event.seq)
        for node in unassigned:
            self._assign(node, survivor)

    def _current_customers(self, nodes: Sequence[Node]) -> set[int]:
        customers = {n.customer_id for n in nodes if n.customer_id is not None}
        if not self.postgres:
            self._load_flags(customers)
            return customers
        # Another worker may have merged or split these customers since we read them: lock
        # their rows (in id order), then re-read the identifiers until nothing moves.
        while True:
            self._flush()
            self._lock_customers(customers)
            refreshed = self.session.execute(
                select(Identifier.id, Identifier.customer_id).where(
                    Identifier.id.in_([n.id for n in nodes])
                )
            )
            for row in refreshed:
                self.by_id[row.id].customer_id = row.customer_id
            now = {n.customer_id for n in nodes if n.customer_id is not None}
            if now <= customers:
                return now
            customers = now | customers

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

    def _load_flags(self, customers: set[int]) -> None:
        unknown = sorted(c for c in customers if c not in self.conflicted)
        for customer_id, conflicted in self.raw.select_in(CUSTOMER_FLAGS, unknown):
            self.conflicted[customer_id] = bool(conflicted)

    def _prefetch_members(self, batch: Sequence[tuple[LogEvent, list[Candidate]]]) -> None:
        """Load, in one go, the identifiers of every customer an event may grow or merge."""
        needed: set[int] = set()
        for _, cands in batch:
            nodes = [self.nodes[c.key_hash] for c in cands]
            customers = {n.customer_id for n in nodes if n.customer_id is not None}
            if customers and (len(customers) > 1 or any(n.customer_id is None for n in nodes)):
                needed |= customers
        self._members_of(needed)

    def _members_of(self, customers: set[int]) -> list[Node]:
        """Identifiers of these customers, from the batch's cache or one query."""
        missing = sorted(c for c in customers if c not in self.members)
        if missing:
            self._flush()
            for customer_id in missing:
                self.members[customer_id] = {}
            for row in self.raw.select_in(IDENTIFIERS_OF_CUSTOMERS, missing):
                node = self.by_id.get(row[0]) or self._remember(row)
                self.members[row[4]][node.id] = node
        return [node for c in customers for node in self.members[c].values()]

    # -- writing -------------------------------------------------------------------------

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

    def _merge(self, loser: int, survivor: int, *, reason: str, event_seq: int | None) -> None:
        """Fold ``loser`` into ``survivor``: identifiers, and the pointer old ids follow.

        Done in memory (the batch's member cache is complete for both customers) and
        written by ``_flush``.
        """
        moved = self._members_of({loser})
        for node in moved:
            self._assign(node, survivor)
        self.members.pop(loser, None)
        self.pending_pointers.append({"survivor": survivor, "loser": loser})
        self.pending_merges.append(
            self._merge_row(survivor, loser, sorted(n.id for n in moved), reason, event_seq)
        )
        self.result.merges.append((loser, survivor))

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

    # -- the canonical path --------------------------------------------------------------

    def component(self, seeds: Iterable[int]) -> tuple[dict[int, Node], list[Edge]]:
        """All identifiers reachable from ``seeds`` over active links, and those links."""
        self._flush()
        seen = set(seeds)
        frontier = sorted(seen)
        edges: dict[int, Edge] = {}
        while frontier:
            found: set[int] = set()
            for part in chunks(frontier):
                rows = self.session.execute(
                    select(
                        IdentityLink.id,
                        IdentityLink.a_id,
                        IdentityLink.b_id,
                        IdentityLink.observed_at,
                    ).where(
                        and_(
                            IdentityLink.active.is_(True),
                            or_(IdentityLink.a_id.in_(part), IdentityLink.b_id.in_(part)),
                        )
                    )
                )
                for row in rows:
                    edges[row.id] = Edge(row.id, row.a_id, row.b_id, as_utc(row.observed_at))
                    found.update((row.a_id, row.b_id))
            frontier = sorted(found - seen)
            seen |= found
        self._load_ids(seen)
        return {i: self.by_id[i] for i in seen}, list(edges.values())

    def repartition(self, seeds: Iterable[int], preferred: dict[int, int] | None = None) -> None:
        """Re-derive the customers of a component from its links (guardrails applied)."""
        nodes, edges = self.component(seeds)
        for node in nodes.values():
            if node.customer_id is not None:
                self.members.pop(node.customer_id, None)
        result = partition(nodes, edges, self.guardrails)
        chosen = assign_customers(nodes, result.groups, preferred)
        old = {n.customer_id for n in nodes.values() if n.customer_id is not None}
        if self.postgres:
            self._lock_customers(old)
        targets: list[int] = []
        for customer_id in chosen:
            if customer_id is None:
                customer_id = self._new_customer()
            targets.append(customer_id)
        # Where did each old customer's identifiers go?
        destinations: dict[int, set[int]] = {c: set() for c in old}
        for group, target in zip(result.groups, targets, strict=True):
            for node_id in group:
                node = nodes[node_id]
                if node.customer_id is not None:
                    destinations[node.customer_id].add(target)
        split = any(len(d) > 1 for d in destinations.values())
        previous = {node_id: node.customer_id for node_id, node in nodes.items()}
        for group, target in zip(result.groups, targets, strict=True):
            for node_id in group:
                if nodes[node_id].customer_id != target:
                    self._assign(nodes[node_id], target)
        self._flush()
        for customer_id, dest in sorted(destinations.items()):
            if customer_id in targets:
                continue
            survivor = min(dest) if dest else None
            if survivor is not None:
                moved_from = {i for i, c in previous.items() if c == customer_id}
                self.session.execute(
                    update(Customer)
                    .where(or_(Customer.id == customer_id, Customer.merged_into_id == customer_id))
                    .values(merged_into_id=survivor)
                )
                moved = sorted(
                    n.id for n in nodes.values() if n.customer_id == survivor and n.id in moved_from
                )
                self.pending_merges.append(
                    self._merge_row(survivor, customer_id, moved, "repartition", None)
                )
                if not split:
                    self.result.merges.append((customer_id, survivor))
        # A customer stays "conflicted" while a refused link touches it: any change to its
        # component must go through this canonical path again.
        touching = {e.a for e, _ in result.refused} | {e.b for e, _ in result.refused}
        for group, target in zip(result.groups, targets, strict=True):
            conflicted = bool(group & touching)
            self.session.execute(
                update(Customer)
                .where(Customer.id == target)
                .values(conflicted=conflicted, merged_into_id=None)
            )
            self.conflicted[target] = conflicted
        if split:
            self.result.reshaped |= old | set(targets)
        self._record_conflicts(edges, result.refused)
        self._flush()

    def _record_conflicts(self, edges: Sequence[Edge], refused: Sequence[tuple[Edge, str]]) -> None:
        """Make the review queue match this partition of the component.

        Fix: a link refused while only part of the evidence had arrived (events out of
        order) can be accepted once an earlier link arrives; its conflict used to stay
        open, so the queue depended on arrival order. Such conflicts are now marked
        ``superseded``, and re-opened if a later partition refuses the link again.
        Conflicts a person closed are left alone.
        """
        refused_ids = {edge.id for edge, _ in refused}
        accepted = sorted(edge.id for edge in edges if edge.id not in refused_ids)
        now = utcnow()
        for part in chunks(accepted):
            self.session.execute(
                update(IdentityConflict)
                .where(IdentityConflict.link_id.in_(part), IdentityConflict.status == "open")
                .values(status="superseded", resolved_at=now, resolved_by=self.actor)
            )
        if not refused:
            return
        dialect = postgresql if self.postgres else sqlite
        stmt = dialect.insert(table_of(IdentityConflict))
        table = table_of(IdentityConflict).c
        self.session.execute(
            stmt.on_conflict_do_update(
                index_elements=["link_id"],
                set_={
                    "status": "open",
                    "reason": stmt.excluded.reason,
                    "resolved_at": None,
                    "resolved_by": None,
                    "attempts": table.attempts + 1,
                },
                where=table.status == "superseded",
            ),
            [
                {
                    "link_id": edge.id,
                    "reason": reason,
                    "status": "open",
                    "created_at": now,
                    "attempts": 1,
                }
                for edge, reason in refused
            ],
        )
