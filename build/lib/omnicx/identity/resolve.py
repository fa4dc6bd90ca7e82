"""Deterministic identity resolution of a batch of events.

For each event: find or create its identifiers, record the links between them (the
strongest identifier anchors a star), then decide the customer. The common cases are
cheap (all identifiers already in one customer; a new identifier joining one; two
customers merging) and give the same answer as the canonical partition of
``graph.partition``, which is used whenever a guardrail is in play. The caller owns the
transaction and holds the identity group's offset row, which serialises everything that
changes the graph (ADR 0006); on PostgreSQL, advisory locks on the batch's identifiers
also keep an erasure from running beside it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, bindparam, or_, select, text

from omnicx.core.database import chunks
from omnicx.core.eventlog.base import LogEvent
from omnicx.core.time import as_datetime, utcnow
from omnicx.governance.privacy import redact_events, redacted_payload
from omnicx.governance.suppression import suppressed_hashes
from omnicx.identity.batch_state import (
    ANY_BLOCK,
    CUSTOMER_FLAGS,
    IDENTIFIERS_BY_HASH,
    IDENTIFIERS_OF_CUSTOMERS,
    INSERT_IDENTIFIER,
    INSERT_LINK,
    LINKS_FROM,
    Resolution,
    lock_key,
)
from omnicx.identity.extract import Candidate
from omnicx.identity.graph import Node
from omnicx.identity.models import (
    LinkBlock,
    seal_value,
)
from omnicx.identity.repartition import Repartitioning

__all__ = ["SUPPRESSED", "Resolution", "Resolver"]

log = logging.getLogger(__name__)
# Marks, in ``LogEvent.derived``, an event set aside because of the suppression list.
SUPPRESSED = "identity.suppressed"


class Resolver(Repartitioning):
    """Resolves batches of events; see the module docstring."""

    # -- batch entry point -------------------------------------------------------------

    def resolve(self, batch: Sequence[tuple[LogEvent, list[Candidate]]]) -> Resolution:
        hashes = sorted({c.key_hash for _, cands in batch for c in cands})
        if not hashes:
            for event, _ in batch:
                self.result.attribution[event.seq or 0] = None
            return self.result
        if self.postgres:
            self._lock_hashes(hashes)
        # After the locks: an erasure holds them while it suppresses, so a batch that
        # waited for it sees its suppressions here.
        batch = self._drop_suppressed(batch, hashes)
        hashes = sorted({c.key_hash for _, cands in batch for c in cands})
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

    def _drop_suppressed(
        self, batch: Sequence[tuple[LogEvent, list[Candidate]]], hashes: Sequence[bytes]
    ) -> Sequence[tuple[LogEvent, list[Candidate]]]:
        """Set aside events that carry an identifier suppressed for good (an erased
        person): nothing is resolved from them and their stored payload is redacted."""
        suppressed = suppressed_hashes(self.session, hashes)
        if not suppressed:
            return batch
        kept: list[tuple[LogEvent, list[Candidate]]] = []
        dropped: list[LogEvent] = []
        for event, cands in batch:
            if any(c.key_hash in suppressed for c in cands):
                dropped.append(event)
            else:
                kept.append((event, cands))
        redact_events(self.session, [(e.seq or 0, e.type) for e in dropped], "suppressed")
        for event in dropped:
            # Later processors of this batch must not see what was just redacted.
            event.payload = redacted_payload(event.type, "suppressed")
            event.derived[SUPPRESSED] = True
            self.result.attribution[event.seq or 0] = None
        log.info("%s events carried suppressed identifiers: redacted, not resolved", len(dropped))
        return kept

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

    def _load_hashes(self, hashes: Sequence[bytes]) -> None:
        for row in self.raw.select_in(IDENTIFIERS_BY_HASH, hashes):
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
                    seal_value(r["value"]),
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
        if not hashes or not self.raw.select(ANY_BLOCK, (True,)):
            return found  # the usual case: nobody has ever unmerged anything
        for part in chunks(sorted(hashes)):
            rows = self.session.execute(
                select(LinkBlock.a_hash, LinkBlock.b_hash).where(
                    LinkBlock.active.is_(True),
                    or_(LinkBlock.a_hash.in_(part), LinkBlock.b_hash.in_(part)),
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
        survivor = min(customers) if customers else self._new_customer(nodes[0].key_hash)
        for loser in sorted(customers - {survivor}):
            self._merge(loser, survivor, reason="shared_identifier", event_seq=event.seq)
        for node in unassigned:
            self._assign(node, survivor)

    def _current_customers(self, nodes: Sequence[Node]) -> set[int]:
        customers = {n.customer_id for n in nodes if n.customer_id is not None}
        self._load_flags(customers)
        return customers

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
        self.result.merge_seqs.append(event_seq)
