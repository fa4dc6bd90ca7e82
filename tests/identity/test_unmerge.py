"""Unmerge: a person undoes a wrong merge; history is re-attributed and the link stays cut."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from omnicx.cli.main import app
from omnicx.core.eventlog.models import EventRow
from omnicx.identity.models import Identifier, IdentityLink, LinkBlock, Unmerge
from tests.factories import append_calls, call, make_source, make_token, process, token_actor
from tests.identity.graph_state import customer_of, partition_of

EMAIL = "Shared.Family@Example.org"
NORMALISED = "shared.family@example.org"
REASON = "two people on one family laptop"


@dataclass
class Households:
    auth: dict[str, str]
    source_id: int
    survivor: int
    merged: int
    merge_id: int
    survivor_seqs: set[int]
    merged_seqs: set[int]


def event_seqs_by_message(db, source_id, calls) -> set[int]:
    ids = [c["messageId"] for c in calls]
    with db.read() as session:
        return set(
            session.scalars(
                select(EventRow.seq).where(
                    EventRow.source_id == source_id, EventRow.message_id.in_(ids)
                )
            )
        )


def timeline(client, auth, customer_id: int) -> tuple[int, set[int]]:
    """(customer id the timeline belongs to, seqs on it), reading every page."""
    seen: set[int] = set()
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        r = client.get(f"/api/v1/customers/{customer_id}/timeline", headers=auth, params=params)
        assert r.status_code == 200, r.text
        body = r.json()
        seen |= {item["seq"] for item in body["items"]}
        cursor = body["next_cursor"]
        if not cursor:
            return body["customer_id"], seen


def view(client, auth, customer_id: int) -> dict:
    r = client.get(f"/api/v1/customers/{customer_id}", headers=auth)
    assert r.status_code == 200, r.text
    return r.json()


@pytest.fixture
def households(client, db) -> Households:
    """Two anonymous browsing histories that an identify with one email merged."""
    source_id, _ = make_source(db)
    auth = {"Authorization": f"Bearer {make_token(db)}"}
    first = [
        call("page", 0, anonymousId="laptop-a", name="Home", context={"page": {"path": "/"}}),
        call("page", 1, anonymousId="laptop-a", name="Shoes"),
        call("identify", 6, anonymousId="laptop-a", traits={"email": EMAIL, "name": "Li Lei"}),
    ]
    second = [
        call("page", 2, anonymousId="tablet-b", name="Toys"),
        call("track", 3, anonymousId="tablet-b", event="Product Viewed"),
        call("screen", 4, anonymousId="tablet-b", name="Cart", context={"app": {"name": "Shop"}}),
    ]
    joining = call("identify", 8, anonymousId="tablet-b", traits={"email": EMAIL.upper()})
    append_calls(db, source_id, first + second)
    process(db)
    before = customer_of(db, "anonymous_id", "tablet-b")
    assert before != customer_of(db, "anonymous_id", "laptop-a")
    append_calls(db, source_id, [joining])
    process(db)

    survivor = customer_of(db, "anonymous_id", "laptop-a")
    assert customer_of(db, "anonymous_id", "tablet-b") == survivor
    merged = {survivor, before} - {survivor}
    assert len(merged) == 1, "the identify must merge two existing customers"
    body = view(client, auth, survivor)
    assert body["event_count"] == 7
    [merge] = [m for m in body["merges"] if m["undone_at"] is None]
    assert {merge["survivor_id"], merge["merged_id"]} == {survivor, before}
    return Households(
        auth=auth,
        source_id=source_id,
        survivor=survivor,
        merged=merge["merged_id"],
        merge_id=merge["id"],
        # The joining identify's strongest identifier is the email: it stays with its holder.
        survivor_seqs=event_seqs_by_message(db, source_id, [*first, joining]),
        merged_seqs=event_seqs_by_message(db, source_id, second),
    )


def test_a_merged_away_id_is_followed_to_the_survivor(client, households):
    h = households
    body = view(client, h.auth, h.merged)
    assert body["id"] == h.survivor != body["requested_id"] == h.merged
    owner, seen = timeline(client, h.auth, h.merged)
    assert owner == h.survivor
    assert seen == h.survivor_seqs | h.merged_seqs


def test_undoing_a_merge_restores_the_merged_customer_with_its_history(client, db, households):
    h = households
    r = client.post(
        f"/api/v1/customers/{h.survivor}/unmerge",
        json={"merge_id": h.merge_id, "reason": REASON},
        headers=h.auth,
    )
    assert r.status_code == 200, r.text
    result = r.json()
    assert result["customer_id"] == h.survivor
    assert result["new_customer_ids"] == [h.merged]

    restored = view(client, h.auth, h.merged)
    assert restored["id"] == restored["requested_id"] == h.merged
    assert {(i["type"], i["value"]) for i in restored["identifiers"]} == {
        ("anonymous_id", "tablet-b")
    }
    assert [i["id"] for i in restored["identifiers"]] == result["split_identifier_ids"]
    assert restored["event_count"] == 3
    assert set(restored["channels"]) == {"web", "server", "app"}
    assert timeline(client, h.auth, h.merged) == (h.merged, h.merged_seqs)

    kept = view(client, h.auth, h.survivor)
    assert {(i["type"], i["value"]) for i in kept["identifiers"]} == {
        ("anonymous_id", "laptop-a"),
        ("email", NORMALISED),
    }
    assert kept["event_count"] == 4
    assert kept["traits"]["name"] == "Li Lei"
    assert timeline(client, h.auth, h.survivor) == (h.survivor, h.survivor_seqs)
    [merge] = [m for m in kept["merges"] if m["id"] == h.merge_id]
    assert merge["undone_at"] is not None

    # The link that joined them is kept, inactive, with who and why; and it is blocked.
    with db.read() as session:
        ids = dict(session.execute(select(Identifier.value, Identifier.id)).all())
        link = session.scalar(
            select(IdentityLink).where(
                IdentityLink.a_id.in_([ids[NORMALISED], ids["tablet-b"]]),
                IdentityLink.b_id.in_([ids[NORMALISED], ids["tablet-b"]]),
            )
        )
        assert link is not None and link.active is False
        assert link.deactivated_at is not None
        assert link.deactivated_reason == f"unmerge by {token_actor(db)}: {REASON}"
        assert session.scalar(select(LinkBlock.reason)) == REASON
        record = session.scalar(select(Unmerge))
        assert (record.customer_id, record.merge_id, record.reason) == (
            h.survivor,
            h.merge_id,
            REASON,
        )

    # The same merge cannot be undone twice.
    again = client.post(
        f"/api/v1/customers/{h.survivor}/unmerge",
        json={"merge_id": h.merge_id, "reason": REASON},
        headers=h.auth,
    )
    assert again.status_code == 404, again.text


def test_new_events_with_both_identifiers_do_not_merge_them_again(client, db, households):
    h = households
    r = client.post(
        f"/api/v1/customers/{h.survivor}/unmerge",
        json={"merge_id": h.merge_id, "reason": REASON},
        headers=h.auth,
    )
    assert r.status_code == 200, r.text
    expected = partition_of(db)
    assert len(expected) == 2

    later = [
        call("identify", 30, anonymousId="tablet-b", traits={"email": EMAIL}),
        call("track", 31, anonymousId="tablet-b", context={"traits": {"email": EMAIL}}),
        call("page", 32, anonymousId="tablet-b", name="Toys"),
    ]
    for c in later:  # one batch each, and then all together again
        append_calls(db, h.source_id, [c])
        process(db)
    append_calls(db, h.source_id, [{**c, "messageId": c["messageId"] + "-b"} for c in later])
    process(db)

    assert partition_of(db) == expected
    assert customer_of(db, "anonymous_id", "tablet-b") == h.merged
    assert customer_of(db, "email", EMAIL) == h.survivor
    # Events carrying the email belong to its holder; the bare page to the restored one.
    assert view(client, h.auth, h.merged)["event_count"] == 3 + 2
    assert view(client, h.auth, h.survivor)["event_count"] == 4 + 4
    with db.read() as session:
        links = session.execute(select(IdentityLink.active, IdentityLink.deactivated_reason))
        inactive = [reason for active, reason in links if not active]
    assert inactive == [f"unmerge by {token_actor(db)}: {REASON}"]


def test_splitting_off_an_identifier_by_value(client, db):
    source_id, _ = make_source(db)
    auth = {"Authorization": f"Bearer {make_token(db)}"}
    append_calls(
        db,
        source_id,
        [
            call("identify", 0, anonymousId="kiosk-session", traits={"email": "own@example.org"}),
            call("track", 1, anonymousId="kiosk-session", event="Product Viewed"),
            # Someone else typed their address on the same session.
            call(
                "track",
                2,
                anonymousId="kiosk-session",
                event="Newsletter Signup",
                context={"traits": {"email": "Neighbour@Example.org"}},
            ),
        ],
    )
    process(db)
    customer = customer_of(db, "email", "own@example.org")
    assert customer_of(db, "email", "neighbour@example.org") == customer

    r = client.post(
        f"/api/v1/customers/{customer}/unmerge",
        json={
            "identifiers": [{"type": "email", "value": " NEIGHBOUR@example.org"}],
            "reason": "another person's address",
        },
        headers=auth,
    )
    assert r.status_code == 200, r.text
    [new_id] = r.json()["new_customer_ids"]
    assert customer_of(db, "email", "neighbour@example.org") == new_id != customer
    assert partition_of(db) == {
        frozenset({("anonymous_id", "", "kiosk-session"), ("email", "", "own@example.org")}),
        frozenset({("email", "", "neighbour@example.org")}),
    }
    kept, split = view(client, auth, customer), view(client, auth, new_id)
    assert (kept["event_count"], split["event_count"]) == (2, 1)
    assert [e["name"] for e in split["recent_events"]] == ["Newsletter Signup"]


def test_unmerge_errors(client, db, households):
    h = households
    url = f"/api/v1/customers/{h.survivor}/unmerge"

    def post(body, auth=h.auth, customer=None):
        target = f"/api/v1/customers/{customer}/unmerge" if customer else url
        return client.post(target, json={"reason": REASON, **body}, headers=auth)

    missing = post({"merge_id": 999_999})
    assert missing.status_code == 404
    assert missing.json()["error"]["field"] == "merge_id"

    # An identifier that exists, but on another customer.
    append_calls(db, h.source_id, [call("page", 50, anonymousId="stranger")])
    process(db)
    stranger = customer_of(db, "anonymous_id", "stranger")
    other = post({"identifiers": [{"type": "anonymous_id", "value": "stranger"}]})
    assert other.status_code == 400
    assert other.json()["error"]["code"] == "invalid_input"
    # One no one has.
    unknown = post({"identifiers": [{"type": "email", "value": "nobody@example.org"}]})
    assert unknown.status_code == 400
    assert unknown.json()["error"]["field"] == "identifiers"
    # A merge of another customer.
    wrong_customer = post({"merge_id": h.merge_id}, customer=stranger)
    assert wrong_customer.status_code == 400
    assert wrong_customer.json()["error"]["field"] == "merge_id"
    # Nothing named at all.
    assert post({}).status_code == 400

    everything = post(
        {
            "identifiers": [
                {"type": "email", "value": EMAIL},
                {"type": "anonymous_id", "value": "laptop-a"},
                {"type": "anonymous_id", "value": "tablet-b"},
            ]
        }
    )
    assert everything.status_code == 400
    assert "every identifier" in everything.json()["error"]["message"]

    assert post({"merge_id": h.merge_id}, auth={}).status_code == 401
    assert post({"merge_id": h.merge_id}, auth={"Authorization": "Bearer nope"}).status_code == 401
    assert client.post(url, json={"merge_id": h.merge_id}, headers=h.auth).status_code in (
        400,
        422,
    )  # no reason given

    # Nothing changed on the way.
    assert customer_of(db, "anonymous_id", "tablet-b") == h.survivor
    with db.read() as session:
        assert session.scalar(select(Unmerge.id)) is None
        assert session.scalar(select(LinkBlock.id)) is None
    assert view(client, h.auth, h.survivor)["merges"][0]["undone_at"] is None


def test_the_cli_undoes_a_merge(client, db, households):
    h = households
    result = CliRunner().invoke(
        app,
        [
            "identity",
            "unmerge",
            str(h.survivor),
            "--merge-id",
            str(h.merge_id),
            "--reason",
            REASON,
            "--actor",
            "agent-7",
        ],
    )
    assert result.exit_code == 0, result.output
    assert f"customer {h.survivor} split" in result.output
    assert customer_of(db, "anonymous_id", "tablet-b") == h.merged
    assert timeline(client, h.auth, h.merged) == (h.merged, h.merged_seqs)
    with db.read() as session:
        assert session.scalar(select(Unmerge.actor)) == "user:cli:agent-7"

    again = CliRunner().invoke(
        app,
        ["identity", "unmerge", str(h.survivor), "--merge-id", str(h.merge_id), "--reason", REASON],
    )
    assert again.exit_code == 2
    assert "no merge" in again.output


def test_the_cli_splits_by_identifier(client, db, households):
    h = households
    result = CliRunner().invoke(
        app,
        [
            "identity",
            "unmerge",
            str(h.merged),
            "--identifier",
            "anonymous_id:tablet-b",
            "--reason",
            REASON,
        ],
    )
    assert result.exit_code == 0, result.output
    assert customer_of(db, "anonymous_id", "tablet-b") != customer_of(db, "email", EMAIL)
    bad = CliRunner().invoke(
        app,
        ["identity", "unmerge", str(h.survivor), "--identifier", "no-colon", "--reason", REASON],
    )
    assert bad.exit_code != 0


def test_ids_merged_into_the_restored_customer_follow_it_back(client, db):
    """m was merged into r, then r into s: undoing r→s must send m's old id to r again."""
    source_id, _ = make_source(db)
    auth = {"Authorization": f"Bearer {make_token(db)}"}
    for c in [
        call("page", 0, anonymousId="anon-s"),
        call("page", 1, anonymousId="anon-r"),
        call("page", 2, anonymousId="anon-m"),
    ]:
        append_calls(db, source_id, [c])
        process(db)
    s, r, m = (customer_of(db, "anonymous_id", a) for a in ("anon-s", "anon-r", "anon-m"))
    assert s < r < m  # the lower id survives a merge
    # m joins r (an app login on the phone), then r joins s.
    append_calls(
        db,
        source_id,
        [
            call("track", 3, anonymousId="anon-r", context={"device": {"id": "phone-1"}}),
            call("track", 4, anonymousId="anon-m", context={"device": {"id": "phone-1"}}),
        ],
    )
    process(db)
    assert customer_of(db, "anonymous_id", "anon-m") == r
    append_calls(
        db,
        source_id,
        [
            call("identify", 5, anonymousId="anon-r", traits={"email": EMAIL}),
            call("identify", 6, anonymousId="anon-s", traits={"email": EMAIL}),
        ],
    )
    process(db)
    assert view(client, auth, m)["id"] == s
    [merge] = [x for x in view(client, auth, s)["merges"] if x["merged_id"] == r]

    response = client.post(
        f"/api/v1/customers/{s}/unmerge",
        headers=auth,
        json={"merge_id": merge["id"], "reason": REASON},
    )
    assert response.status_code == 200, response.text
    assert customer_of(db, "anonymous_id", "anon-m") == r
    assert view(client, auth, r)["id"] == r
    # The old id of m leads to where m's identifiers are now.
    assert view(client, auth, m)["id"] == r
    assert timeline(client, auth, m)[0] == r
