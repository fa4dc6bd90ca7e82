"""Partitioning a link component into customers, independently of arrival order.

A component with no guardrail violation is one customer: connected components do not
depend on the order links arrived in. A component that does violate a guardrail (two
CRM ids, too many phones) is partitioned by a canonical union-find: links in the order
of their evidence (earliest event time, then blind index), each union refused if the
merged set would break a guardrail. The input is the set of links with their earliest
observation, so the output is the same whatever order the events came in.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from omnicx.identity.rules import Guardrails


@dataclass(slots=True)
class Node:
    id: int
    type: str
    scope: str
    key_hash: bytes
    customer_id: int | None

    @property
    def member(self) -> tuple[str, str, bytes]:
        return (self.type, self.scope, self.key_hash)


@dataclass(frozen=True, slots=True)
class Edge:
    id: int
    a: int
    b: int
    observed_at: datetime


@dataclass
class Partition:
    groups: list[set[int]]
    refused: list[tuple[Edge, str]] = field(default_factory=list)


def partition(nodes: dict[int, Node], edges: Iterable[Edge], guardrails: Guardrails) -> Partition:
    """Split a component into guardrail-respecting groups of identifier ids."""
    parent = {node_id: node_id for node_id in nodes}
    members: dict[int, list[tuple[str, str, bytes]]] = {i: [n.member] for i, n in nodes.items()}

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def order(edge: Edge) -> tuple[datetime, bytes, bytes]:
        ha, hb = nodes[edge.a].key_hash, nodes[edge.b].key_hash
        return (edge.observed_at, min(ha, hb), max(ha, hb))

    refused: list[tuple[Edge, str]] = []
    for edge in sorted(edges, key=order):
        ra, rb = find(edge.a), find(edge.b)
        if ra == rb:
            continue
        combined = members[ra] + members[rb]
        reason = guardrails.violation(combined)
        if reason:
            refused.append((edge, reason))
            continue
        # Attach by the smaller blind index so the shape is canonical too.
        if nodes[ra].key_hash > nodes[rb].key_hash:
            ra, rb = rb, ra
        parent[rb] = ra
        members[ra] = combined
        del members[rb]
    groups: dict[int, set[int]] = {}
    for node_id in nodes:
        groups.setdefault(find(node_id), set()).add(node_id)
    return Partition(groups=list(groups.values()), refused=refused)


def assign_customers(
    nodes: dict[int, Node], groups: Sequence[set[int]], preferred: dict[int, int] | None = None
) -> list[int | None]:
    """Pick an existing customer id for each group, or None where a new one is needed.

    Largest groups choose first, each taking the id most of its members already carry,
    so a split keeps the old id on the bigger part. ``preferred`` maps an identifier id
    to the customer its group should get back (an unmerge restores the merged id).
    """
    wants = preferred or {}
    order = sorted(
        range(len(groups)),
        key=lambda i: (
            not any(n in wants for n in groups[i]),
            -len(groups[i]),
            min(nodes[n].key_hash for n in groups[i]),
        ),
    )
    taken: set[int] = set()
    chosen: list[int | None] = [None] * len(groups)
    for index in order:
        group = groups[index]
        wanted = [wants[n] for n in group if n in wants]
        if wanted and wanted[0] not in taken:
            chosen[index] = wanted[0]
            taken.add(wanted[0])
            continue
        counts: Counter[int] = Counter(c for n in group if (c := nodes[n].customer_id) is not None)
        for customer_id, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
            if customer_id not in taken:
                chosen[index] = customer_id
                taken.add(customer_id)
                break
    return chosen
