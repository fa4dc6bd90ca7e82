"""The canonical path: re-partition a link component when a guardrail is in play.

See ``graph.partition`` and ADR 0002: the result depends only on the set of active links
and their earliest observation, never on arrival order.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import and_, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from omnicx.core.database import chunks, table_of
from omnicx.core.time import as_utc, utcnow
from omnicx.identity.batch_state import BatchState
from omnicx.identity.graph import Edge, Node, assign_customers, partition
from omnicx.identity.models import (
    Customer,
    IdentityConflict,
    IdentityLink,
)
from omnicx.identity.rules import strength


class Repartitioning(BatchState):
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
        targets: list[int] = []
        for group, customer_id in zip(result.groups, chosen, strict=True):
            if customer_id is None:
                anchor = min((strength(nodes[i].type), nodes[i].key_hash) for i in group)[1]
                customer_id = self._new_customer(anchor)
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
                    self.result.merge_seqs.append(None)
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
