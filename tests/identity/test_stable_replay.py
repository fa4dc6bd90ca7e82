"""A replay gives back the same state, ids included: generated histories of stitching,
guardrail conflicts and a person's unmerge in the middle, processed in one batch size and
replayed in another. Every customer id with its members, every old id's pointer, every
merge and unmerge row, and the audit trail's counts come back identical, and the
replayed merges are not audited a second time."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from omnicx.cli.main import app
from omnicx.core.settings import reset_settings
from omnicx.customers.projection import split_customer
from omnicx.governance.models import AuditEntry
from omnicx.governance.service import Principal
from omnicx.identity.models import Customer, Identifier, Merge, Unmerge
from tests.factories import append_calls, call, make_source, process

AGENT = Principal(kind="user", id=7, name="wang.fang@corp.cn", role="supervisor")


def generated_calls(rng: random.Random, start: int, count: int) -> list[dict[str, Any]]:
    """Calls over a small pool of people and devices, so that they stitch a lot; some
    people share a phone (a guardrail conflict between two CRM ids)."""
    calls = []
    for i in range(count):
        person = rng.randrange(12)
        device = f"device-{rng.randrange(20)}"
        minute = start + i
        kind = rng.random()
        if kind < 0.35:
            calls.append(call("page", minute, anonymousId=device, name="首页"))
        elif kind < 0.6:
            traits = {"email": f"person{person}@example.cn", "name": f"顾客{person}"}
            calls.append(call("identify", minute, anonymousId=device, traits=traits))
        elif kind < 0.85:
            phone = f"+86 138 0000 {person // 2:04d}"  # two people per phone
            calls.append(call("identify", minute, userId=f"crm-{person}", traits={"phone": phone}))
        else:
            calls.append(call("alias", minute, userId=f"crm-{person}", previousId=device))
    return calls


def snapshot(db) -> dict[str, Any]:
    with db.read() as session:
        members: dict[int, set[tuple[str, str]]] = {}
        for customer_id, kind, value in session.execute(
            select(Identifier.customer_id, Identifier.type, Identifier.value)
        ):
            members.setdefault(customer_id, set()).add((kind, value))
        pointers = dict(session.execute(select(Customer.id, Customer.merged_into_id)).all())
        merges = session.execute(
            select(
                Merge.id,
                Merge.survivor_id,
                Merge.merged_id,
                Merge.identifier_ids,
                Merge.reason,
                Merge.event_seq,
                Merge.undone_at.is_(None),
            ).order_by(Merge.id)
        ).all()
        unmerges = session.execute(
            select(
                Unmerge.id,
                Unmerge.customer_id,
                Unmerge.new_customer_ids,
                Unmerge.identifier_ids,
                Unmerge.merge_id,
                Unmerge.log_position,
            ).order_by(Unmerge.id)
        ).all()
        audit = Counter(session.scalars(select(AuditEntry.action)))
    return {
        "customers": {c: frozenset(m) for c, m in members.items()},
        "pointers": pointers,
        "merges": [tuple(m) for m in merges],
        "unmerges": [tuple(u) for u in unmerges],
        "audit": audit,
    }


def replay(monkeypatch, batch_size: int) -> None:
    monkeypatch.setenv("OMNICX_PROCESSOR_BATCH_SIZE", str(batch_size))
    reset_settings()
    result = CliRunner().invoke(app, ["replay", "--yes"])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("seed", [3, 17, 2026])
def test_a_replay_gives_back_the_same_ids_history_and_audit(db, monkeypatch, seed):
    rng = random.Random(seed)
    source_id, _ = make_source(db)
    monkeypatch.setenv("OMNICX_PROCESSOR_BATCH_SIZE", "7")
    reset_settings()
    append_calls(db, source_id, generated_calls(rng, 0, 80))
    process(db)

    # A supervisor undoes the newest automatic merge, with the reason.
    with db.read() as session:
        merge = session.execute(
            select(Merge.id, Merge.survivor_id)
            .where(Merge.undone_at.is_(None))
            .order_by(Merge.id.desc())
        ).first()
    assert merge is not None, "the generated history merges nobody"
    with db.write() as session:
        split_customer(
            session,
            merge.survivor_id,
            identifier_ids=(),
            merge_id=merge.id,
            reason="两个人共用一台平板",
            actor=AGENT,
        )
    append_calls(db, source_id, generated_calls(rng, 100, 60))
    process(db)
    before = snapshot(db)
    assert before["unmerges"] and before["audit"]["customer.merge"] > 0

    replay(monkeypatch, batch_size=1000)
    assert snapshot(db) == before
    replay(monkeypatch, batch_size=3)
    assert snapshot(db) == before
