"""Guardrails: shared or junk identifiers must not fuse different people into one customer."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from omnicx.core.settings import Settings, reset_settings
from omnicx.identity.models import Identifier, IdentityConflict
from omnicx.identity.rules import DEFAULT_BLOCKED_VALUES, DEFAULT_LIMITS, Guardrails
from tests.factories import call, make_token
from tests.identity.graph_state import customer_of, feed, open_conflict_links, partition_of


def timeline_count(client, auth, customer_id: int) -> int:
    response = client.get(f"/api/v1/customers/{customer_id}/timeline", headers=auth)
    assert response.status_code == 200, response.text
    return len(response.json()["items"])


# -- the rules themselves (no database) ------------------------------------------------------


def test_violation_names_unique_types_per_scope_and_limits():
    guard = Guardrails(blocked=DEFAULT_BLOCKED_VALUES, limits={**DEFAULT_LIMITS, "phone": 2})
    assert guard.violation([("user_id", "", b"1"), ("user_id", "", b"2")]) == (
        "two different user_id values"
    )
    assert guard.violation([("user_id", "", b"1"), ("user_id", "", b"1")]) is None
    # One openid per app is the rule; openids of two apps belong together.
    assert guard.violation([("wechat_openid", "a", b"1"), ("wechat_openid", "b", b"2")]) is None
    assert "in scope 'a'" in guard.violation(
        [("wechat_openid", "a", b"1"), ("wechat_openid", "a", b"2")]
    )
    phones = [("phone", "", bytes([i])) for i in range(3)]
    assert guard.violation(phones[:2]) is None
    assert guard.violation(phones) == "more than 2 phone identifiers"
    # Custom types have a default limit too.
    cards = [("loyalty_card", "s", bytes([i])) for i in range(21)]
    assert guard.violation(cards[:20]) is None
    assert guard.violation(cards) == "more than 20 loyalty_card identifiers"


def test_configured_blocked_values_and_limits_come_from_settings():
    settings = Settings(blocked_identifier_values=[" Kiosk-1 "], identifier_limits={"phone": 3})
    guard = Guardrails.from_settings(settings)
    assert guard.is_blocked("KIOSK-1") and guard.is_blocked("null")
    assert guard.limit("phone") == 3
    assert guard.limit("email") == DEFAULT_LIMITS["email"]
    assert guard.limit("user_id") == 1


# -- through the pipeline, on both backends ---------------------------------------------------


@pytest.mark.parametrize("arrival", ["time_order_one_batch", "reversed_one_by_one"])
def test_two_crm_users_sharing_an_email_stay_apart_and_the_conflict_is_queued(client, db, arrival):
    alice = call("identify", 1, userId="crm-alice", traits={"email": "Family@Example.org"})
    bob = call("identify", 5, userId="crm-bob", traits={"email": "family@example.org "})
    later_bob = call("track", 9, userId="crm-bob", event="Order Completed")
    calls = [alice, bob, later_bob]
    if arrival == "reversed_one_by_one":
        feed(db, calls[::-1], one_by_one=True)
    else:
        feed(db, calls, one_by_one=False)

    alice_id = customer_of(db, "user_id", "crm-alice")
    bob_id = customer_of(db, "user_id", "crm-bob")
    assert alice_id != bob_id
    # The email's link to alice is earlier by event time: the email stays with her.
    assert customer_of(db, "email", "family@example.org") == alice_id
    assert partition_of(db) == {
        frozenset({("user_id", "", "crm-alice"), ("email", "", "family@example.org")}),
        frozenset({("user_id", "", "crm-bob")}),
    }

    with db.read() as session:
        conflicts = session.execute(select(IdentityConflict.status, IdentityConflict.reason)).all()
    assert [tuple(c) for c in conflicts] == [("open", "two different user_id values")]
    assert open_conflict_links(db) == {
        frozenset({("user_id", "", "crm-bob"), ("email", "", "family@example.org")})
    }

    auth = {"Authorization": f"Bearer {make_token(db)}"}
    assert client.get("/api/v1/identity/conflicts").status_code == 401
    response = client.get("/api/v1/identity/conflicts", headers=auth)
    assert response.status_code == 200, response.text
    [queued] = response.json()
    assert queued["status"] == "open"
    assert queued["reason"] == "two different user_id values"
    sides = {(s["type"], s["value"], s["customer_id"]) for s in queued["sides"]}
    assert sides == {("user_id", "crm-bob", bob_id), ("email", "family@example.org", alice_id)}

    # Each person's events stay on their own timeline.
    assert timeline_count(client, auth, alice_id) == 1
    assert timeline_count(client, auth, bob_id) == 2


def test_a_shared_kiosk_device_does_not_merge_three_crm_users(client, db):
    calls = [
        call(
            "screen",
            minute,
            userId=user,
            name="Catalog",
            context={"device": {"id": "kiosk-7"}, "app": {"name": "Shop"}},
        )
        for minute, user in [(3, "crm-3"), (1, "crm-1"), (2, "crm-2")]
    ]
    calls.append(call("track", 4, userId="crm-2", context={"device": {"id": "kiosk-7"}}))
    feed(db, calls, one_by_one=False)

    ids = {user: customer_of(db, "user_id", user) for user in ("crm-1", "crm-2", "crm-3")}
    assert len(set(ids.values())) == 3
    # The earliest user on the device keeps it.
    assert customer_of(db, "device_id", "kiosk-7") == ids["crm-1"]
    assert partition_of(db) == {
        frozenset({("user_id", "", "crm-1"), ("device_id", "", "kiosk-7")}),
        frozenset({("user_id", "", "crm-2")}),
        frozenset({("user_id", "", "crm-3")}),
    }
    assert open_conflict_links(db) == {
        frozenset({("user_id", "", "crm-2"), ("device_id", "", "kiosk-7")}),
        frozenset({("user_id", "", "crm-3"), ("device_id", "", "kiosk-7")}),
    }
    auth = {"Authorization": f"Bearer {make_token(db)}"}
    assert timeline_count(client, auth, ids["crm-1"]) == 1
    assert timeline_count(client, auth, ids["crm-2"]) == 2
    assert timeline_count(client, auth, ids["crm-3"]) == 1


def phone(i: int) -> str:
    return f"138 0013 80{i:02d}"


def e164(i: int) -> str:
    return f"+86138001380{i:02d}"


@pytest.mark.parametrize("one_by_one", [False, True], ids=["one_batch", "one_by_one"])
def test_an_anonymous_stream_with_eleven_phones_keeps_only_the_first_ten(db, one_by_one):
    calls = [
        call("track", minute, anonymousId="anon-stream", context={"traits": {"phone": phone(i)}})
        for minute, i in enumerate(range(11))
    ]
    # Arrive latest first: the limit must still keep the earliest ten by event time.
    feed(db, calls[::-1], one_by_one=one_by_one)

    stream = customer_of(db, "anonymous_id", "anon-stream")
    assert all(customer_of(db, "phone", e164(i)) == stream for i in range(10))
    assert customer_of(db, "phone", e164(10)) != stream
    assert partition_of(db) == {
        frozenset(
            {("anonymous_id", "", "anon-stream")} | {("phone", "", e164(i)) for i in range(10)}
        ),
        frozenset({("phone", "", e164(10))}),
    }
    with db.read() as session:
        reasons = session.scalars(select(IdentityConflict.reason)).all()
    assert reasons == ["more than 10 phone identifiers"]


def test_a_configured_lower_limit_applies(db, monkeypatch):
    monkeypatch.setenv("OMNICX_IDENTIFIER_LIMITS", '{"phone": 2}')
    reset_settings()
    calls = [
        call("track", i, anonymousId="anon-x", context={"traits": {"phone": phone(i)}})
        for i in range(4)
    ]
    feed(db, calls, one_by_one=False)
    assert partition_of(db) == {
        frozenset({("anonymous_id", "", "anon-x"), ("phone", "", e164(0)), ("phone", "", e164(1))}),
        frozenset({("phone", "", e164(2))}),
        frozenset({("phone", "", e164(3))}),
    }


@pytest.mark.parametrize("junk", ["null", "undefined", "0"])
def test_junk_anonymous_ids_do_not_join_different_users(db, junk):
    calls = [
        call("identify", 1, userId="u-1", anonymousId=junk, traits={"email": "null"}),
        call(
            "track",
            2,
            userId="u-2",
            anonymousId=junk,
            context={"device": {"id": "00000000-0000-0000-0000-000000000000"}},
        ),
        call("page", 3, userId="u-3", anonymousId=junk.upper()),
    ]
    feed(db, calls, one_by_one=False)

    assert partition_of(db) == {
        frozenset({("user_id", "", "u-1")}),
        frozenset({("user_id", "", "u-2")}),
        frozenset({("user_id", "", "u-3")}),
    }
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(IdentityConflict)) == 0
        assert (
            session.scalar(
                select(func.count()).where(
                    Identifier.value.in_(
                        [junk, junk.upper(), "00000000-0000-0000-0000-000000000000"]
                    )
                )
            )
            == 0
        )


def test_two_crm_ids_in_one_event_are_a_conflict_not_a_customer(db):
    calls = [
        call("identify", 1, userId="crm-1", traits={"email": "one@example.org"}),
        call("identify", 2, userId="crm-2", traits={"email": "two@example.org"}),
        # An integration sends the wrong CRM id beside the right one.
        call(
            "track",
            3,
            userId="crm-1",
            anonymousId="anon-z",
            context={"externalIds": [{"type": "crm_id", "id": "crm-2", "collection": "users"}]},
        ),
    ]
    feed(db, calls, one_by_one=False)
    groups = partition_of(db)
    assert len(groups) == 2
    assert not any(
        {("user_id", "", "crm-1"), ("user_id", "", "crm-2")} <= group for group in groups
    )
    assert open_conflict_links(db)


def test_openids_of_one_app_never_merge_but_of_two_apps_do(db):
    def wechat(minute: int, anon: str, openid: str, app: str) -> dict:
        return call(
            "track",
            minute,
            anonymousId=anon,
            context={
                "traits": {"email": "w@x.cn"},
                "externalIds": [{"type": "wechat_openid", "id": openid, "collection": app}],
            },
        )

    feed(
        db,
        [
            wechat(1, "a1", "o-1", "app-A"),
            wechat(2, "a2", "o-2", "app-B"),
            wechat(3, "a3", "o-3", "app-A"),
        ],
        one_by_one=False,
    )
    email = customer_of(db, "email", "w@x.cn")
    assert customer_of(db, "wechat_openid", "o-1", "app-A") == email
    assert customer_of(db, "wechat_openid", "o-2", "app-B") == email
    assert customer_of(db, "wechat_openid", "o-3", "app-A") != email
    assert open_conflict_links(db)
