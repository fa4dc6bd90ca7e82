"""``omnicx replay`` rebuilds the same customers from the log, and unmerge decisions hold."""

from __future__ import annotations

from sqlalchemy import func, select
from typer.testing import CliRunner

from omnicx.cli.main import app
from omnicx.core.settings import reset_settings
from omnicx.customers.models import CustomerProfile, TimelineEntry
from omnicx.identity.models import Identifier, IdentityLink, LinkBlock, Unmerge
from tests.factories import append_calls, call, make_source, make_token, process
from tests.identity.graph_state import Member, customer_of, open_conflict_links, partition_of

REASON = "shared family laptop"


def customers_by_identifiers(db) -> dict[frozenset[Member], tuple[int, tuple[int, ...]]]:
    """Each customer, keyed by its identifiers: (event_count, seqs on its timeline)."""
    with db.read() as session:
        members: dict[int, set[Member]] = {}
        for row in session.execute(
            select(Identifier.customer_id, Identifier.type, Identifier.scope, Identifier.value)
        ):
            members.setdefault(row.customer_id, set()).add((row.type, row.scope, row.value))
        counts = dict(
            session.execute(select(CustomerProfile.customer_id, CustomerProfile.event_count)).all()
        )
        timelines: dict[int, list[int]] = {}
        for customer_id, seq in session.execute(
            select(TimelineEntry.customer_id, TimelineEntry.event_seq)
        ):
            timelines.setdefault(customer_id, []).append(seq)
    assert set(timelines) <= set(members), "timeline entries on a customer without identifiers"
    return {
        frozenset(ids): (counts.get(c, 0), tuple(sorted(timelines.get(c, []))))
        for c, ids in members.items()
    }


def cut_links(db) -> list[str]:
    with db.read() as session:
        return list(
            session.scalars(
                select(IdentityLink.deactivated_reason)
                .where(IdentityLink.active.is_(False))
                .order_by(IdentityLink.id)
            )
        )


def history(client, db) -> int:
    """A mix of stitching, a guardrail conflict and two unmerges; returns the source id."""
    source_id, _ = make_source(db)
    auth = {"Authorization": f"Bearer {make_token(db)}"}
    batches = [
        [
            call("page", 0, anonymousId="laptop-a", name="Home"),
            call("page", 1, anonymousId="tablet-b", name="Toys"),
            call("screen", 2, anonymousId="app-c", context={"device": {"id": "dev-c"}}),
        ],
        [
            call("identify", 3, anonymousId="laptop-a", traits={"email": "home@example.org"}),
            call("identify", 4, anonymousId="tablet-b", traits={"email": "home@example.org"}),
            call("alias", 5, userId="crm-1", previousId="app-c"),
            call("identify", 6, userId="crm-1", traits={"phone": "138 0013 8000"}),
        ],
        [
            # A second CRM user with crm-1's phone: a conflict, not a merge.
            call("identify", 7, userId="crm-2", traits={"phone": "+86 138 0013 8000"}),
            call("track", 8, anonymousId="kiosk", context={"traits": {"email": "k@example.org"}}),
            call("track", 9, anonymousId="kiosk", context={"traits": {"phone": "13900139000"}}),
        ],
    ]
    for batch in batches:
        append_calls(db, source_id, batch)
        process(db)

    survivor = customer_of(db, "email", "home@example.org")
    merges = client.get(f"/api/v1/customers/{survivor}", headers=auth).json()["merges"]
    [merge] = [m for m in merges if m["reason"] == "shared_identifier"]
    undo = client.post(
        f"/api/v1/customers/{survivor}/unmerge",
        json={"merge_id": merge["id"], "reason": REASON},
        headers=auth,
    )
    assert undo.status_code == 200, undo.text
    kiosk = customer_of(db, "anonymous_id", "kiosk")
    split = client.post(
        f"/api/v1/customers/{kiosk}/unmerge",
        json={"identifiers": [{"type": "phone", "value": "139 0013 9000"}], "reason": "typo"},
        headers=auth,
    )
    assert split.status_code == 200, split.text

    # After the unmerges, more events that carry the cut pairs together.
    append_calls(
        db,
        source_id,
        [
            call("identify", 20, anonymousId="tablet-b", traits={"email": "home@example.org"}),
            call("track", 21, anonymousId="kiosk", context={"traits": {"phone": "13900139000"}}),
            call("page", 22, anonymousId="tablet-b", name="Toys"),
        ],
    )
    process(db)
    return source_id


def replay(monkeypatch=None, batch_size: int | None = None) -> None:
    if batch_size is not None and monkeypatch is not None:
        monkeypatch.setenv("OMNICX_PROCESSOR_BATCH_SIZE", str(batch_size))
        reset_settings()
    result = CliRunner().invoke(app, ["replay", "--yes"])
    assert result.exit_code == 0, result.output
    assert "replayed" in result.output


def test_replay_rebuilds_the_same_customers_and_keeps_unmerge_decisions(client, db, monkeypatch):
    history(client, db)
    groups = partition_of(db)
    customers = customers_by_identifiers(db)
    conflicts = open_conflict_links(db)
    cut = cut_links(db)
    assert frozenset({("anonymous_id", "", "tablet-b")}) in groups
    assert frozenset({("phone", "", "+8613900139000")}) in groups
    assert frozenset({("user_id", "", "crm-2")}) in groups
    assert conflicts == {frozenset({("user_id", "", "crm-2"), ("phone", "", "+8613800138000")})}

    for batch_size in (None, 2):  # all of the log in one batch, then two events at a time
        replay(monkeypatch, batch_size)
        assert partition_of(db) == groups
        assert customers_by_identifiers(db) == customers
        assert open_conflict_links(db) == conflicts
        with db.read() as session:
            # The decisions themselves are not derived state: they survive.
            assert session.scalar(select(func.count()).select_from(Unmerge)) == 2
            assert session.scalar(select(func.count()).select_from(LinkBlock)) == 2
        # Each unmerge was redone where it happened: the links it cut are cut by it again.
        assert cut_links(db) == cut
        assert [reason.split(": ", 1)[1] for reason in cut] == [REASON, "typo"]


def test_a_blocked_link_stays_effective_for_events_after_a_replay(client, db):
    source_id = history(client, db)
    replay()
    before = partition_of(db)
    append_calls(
        db,
        source_id,
        [
            call("identify", 40, anonymousId="tablet-b", traits={"email": "Home@Example.org"}),
            call(
                "track", 41, anonymousId="kiosk", context={"traits": {"phone": "+86 139 0013 9000"}}
            ),
        ],
    )
    process(db)
    assert partition_of(db) == before
    assert customer_of(db, "anonymous_id", "tablet-b") != customer_of(
        db, "email", "home@example.org"
    )
    assert customer_of(db, "phone", "13900139000") != customer_of(db, "anonymous_id", "kiosk")
