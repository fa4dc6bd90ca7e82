"""Consent from events: Segment's ``context.consent`` and consent traits, through the
tracking API and the pipeline; idempotent on replay, following merges and unmerges."""

from __future__ import annotations

from sqlalchemy import func, select

from omnicx.core.eventlog.models import EventRow
from omnicx.core.processing.replay import rewind
from omnicx.core.settings import get_settings
from omnicx.customers.consent import consent_subject
from omnicx.governance.consent import consent_status, decisions_of
from omnicx.governance.models import Consent
from omnicx.identity.service import find_customer_by_identifier
from omnicx.runtime.processors import all_groups, make_pipeline
from tests.factories import append_calls, call, make_source, make_token, process


def customer_of(db, kind: str, value: str) -> int:
    with db.read() as session:
        return find_customer_by_identifier(session, kind, value)


def granted(db, customer_id: int, purpose: str, channel: str) -> bool:
    with db.read() as session:
        subject = consent_subject(session, customer_id)
        return consent_status(session, subject, purpose, channel).granted


def history(db, customer_id: int) -> list[tuple[str, str, bool, str]]:
    with db.read() as session:
        return [
            (d.purpose, d.channel, d.granted, d.source)
            for d in decisions_of(session, consent_subject(session, customer_id))
        ]


def preferences(**categories: bool) -> dict:
    return {"consent": {"categoryPreferences": categories}}


def test_segment_context_consent_through_the_tracking_api(client, db):
    _, key = make_source(db)
    body = call(
        "track",
        5,
        userId="u-segment",
        event="Product Viewed",
        context=preferences(Marketing=True, ANALYTICS=False, Functional=True),
    )
    body.pop("type")
    assert client.post("/v1/track", json=body, auth=(key, "")).status_code == 200
    process(db)

    person = customer_of(db, "user_id", "u-segment")
    assert history(db, person) == [
        ("analytics", "*", False, "event"),
        ("marketing", "*", True, "event"),
    ]
    assert granted(db, person, "marketing", "sms") is True
    assert granted(db, person, "analytics", "web") is False
    token = make_token(db, "agent")
    api = client.get(
        f"/api/v1/customers/{person}/consent", headers={"Authorization": f"Bearer {token}"}
    ).json()
    [marketing] = [h for h in api["history"] if h["purpose"] == "marketing"]
    with db.read() as session:
        seq = session.scalar(select(EventRow.seq).where(EventRow.message_id == body["messageId"]))
    assert marketing["event_seq"] == seq
    assert marketing["occurred_at"].startswith("2026-01-01T00:05:00")
    assert marketing["actor"].startswith("source:")


def test_consent_traits_per_channel_and_the_opt_in_flag(db):
    source_id, _ = make_source(db)
    append_calls(
        db,
        source_id,
        [
            call(
                "identify",
                0,
                userId="u-traits",
                traits={
                    "marketing_opt_in": True,
                    "consent": {
                        "Marketing": {"SMS": False, "wechat": True, "fax": True},
                        "analytics": False,
                        "newsletter": True,
                    },
                },
            )
        ],
    )
    process(db)
    person = customer_of(db, "user_id", "u-traits")
    assert sorted(history(db, person)) == [
        ("analytics", "*", False, "event"),
        ("marketing", "*", True, "event"),
        ("marketing", "sms", False, "event"),
        ("marketing", "wechat", True, "event"),
    ]
    # In one event, the channel's own preference counts over the general one.
    assert granted(db, person, "marketing", "sms") is False
    assert granted(db, person, "marketing", "email") is True


def test_a_repeated_stamp_is_not_a_decision_and_does_not_undo_an_agent_opt_out(client, db):
    source_id, _ = make_source(db)
    stamped = [
        call("track", minute, userId="u-stamp", context=preferences(marketing=True))
        for minute in (0, 1)
    ]
    append_calls(db, source_id, stamped)
    process(db)
    person = customer_of(db, "user_id", "u-stamp")
    assert history(db, person) == [("marketing", "*", True, "event")]

    # On the phone, the customer opts out; their browser keeps stamping the old choice.
    token = make_token(db, "agent")
    response = client.post(
        f"/api/v1/customers/{person}/consent",
        headers={"Authorization": f"Bearer {token}"},
        json={"purpose": "marketing", "granted": False, "note": "said stop on the phone"},
    )
    assert response.status_code == 201
    append_calls(
        db,
        source_id,
        [call("track", 10**6, userId="u-stamp", context=preferences(marketing=True))],
    )
    process(db)
    assert granted(db, person, "marketing", "email") is False
    # A real change on the device is a new decision.
    append_calls(
        db,
        source_id,
        [call("track", 10**6 + 1, userId="u-stamp", context=preferences(marketing=False))],
    )
    process(db)
    assert history(db, person)[-1] == ("marketing", "*", False, "event")


def count_by_source(db) -> dict[str, int]:
    with db.read() as session:
        rows = session.execute(select(Consent.source, func.count()).group_by(Consent.source)).all()
    return {source: n for source, n in rows}


def test_replay_rebuilds_event_consent_and_keeps_what_people_recorded(client, db):
    source_id, _ = make_source(db)
    append_calls(
        db,
        source_id,
        [
            call("identify", 0, anonymousId="a-filler", traits={"email": "filler@example.com"}),
            call(
                "identify",
                1,
                userId="u-replay",
                traits={"phone": "13700001111"},
                context=preferences(analytics=False),
            ),
        ],
    )
    process(db)
    person = customer_of(db, "user_id", "u-replay")
    token = make_token(db, "supervisor")
    client.post(
        f"/api/v1/customers/{person}/consent",
        headers={"Authorization": f"Bearer {token}"},
        json={"purpose": "marketing", "channel": "sms", "granted": True},
    )
    before = history(db, person)
    assert count_by_source(db) == {"event": 1, "api": 1}

    with db.write() as session:
        rewind(session, all_groups())
    assert count_by_source(db) == {"api": 1}
    make_pipeline(db, get_settings()).run_until_idle()

    again = customer_of(db, "user_id", "u-replay")
    assert count_by_source(db) == {"event": 1, "api": 1}  # rebuilt, not doubled
    assert history(db, again) == before
    assert granted(db, again, "marketing", "sms") is True
    assert granted(db, customer_of(db, "anonymous_id", "a-filler"), "marketing", "sms") is False


def test_after_an_unmerge_event_consent_goes_with_its_events(client, db):
    source_id, _ = make_source(db)
    auth = {"Authorization": f"Bearer {make_token(db)}"}
    append_calls(
        db,
        source_id,
        [
            call("identify", 0, anonymousId="laptop-c", traits={"email": "c@example.com"}),
            call("page", 1, anonymousId="tablet-d", name="Home"),
        ],
    )
    process(db)
    tablet = customer_of(db, "anonymous_id", "tablet-d")
    append_calls(
        db,
        source_id,
        [
            call("identify", 2, anonymousId="tablet-d", traits={"email": "c@example.com"}),
            call("track", 3, anonymousId="tablet-d", context=preferences(marketing=True)),
        ],
    )
    process(db)
    survivor = customer_of(db, "anonymous_id", "laptop-c")
    assert customer_of(db, "anonymous_id", "tablet-d") == survivor
    assert granted(db, survivor, "marketing", "email") is True
    merge = client.get(f"/api/v1/customers/{survivor}", headers=auth).json()["merges"][0]

    undone = client.post(
        f"/api/v1/customers/{survivor}/unmerge",
        headers=auth,
        json={"merge_id": merge["id"], "reason": "two people share the email"},
    )
    assert undone.status_code == 200, undone.text
    restored = customer_of(db, "anonymous_id", "tablet-d")
    assert restored != survivor and restored in (tablet, merge["merged_id"])
    # The consent group follows the split from identity's ``customer.unmerged`` fact.
    process(db)
    # The consent came from the tablet's event: it leaves with the tablet's history.
    assert granted(db, restored, "marketing", "email") is True
    assert granted(db, survivor, "marketing", "email") is False
