"""Which identifiers an event carries: normalised, deduplicated, junk-free, strongest first."""

from __future__ import annotations

from typing import Any

import pytest

from omnicx.governance.blind_index import blind_index
from omnicx.identity.extract import extract_identifiers
from omnicx.identity.rules import DEFAULT_BLOCKED_VALUES, DEFAULT_LIMITS, Guardrails

GUARD = Guardrails(blocked=DEFAULT_BLOCKED_VALUES, limits=dict(DEFAULT_LIMITS))


def found(event_type: str, payload: dict[str, Any], guard: Guardrails = GUARD) -> list[tuple]:
    return [
        (c.type, c.scope, c.value) for c in extract_identifiers(event_type, payload, guard, "CN")
    ]


def test_identify_yields_user_anonymous_email_and_phone_normalised():
    payload = {
        "userId": "crm-42",
        "anonymousId": "anon-1",
        "traits": {"email": " Wang.Fang@QQ.com", "phone": "138 0013 8000", "name": "王芳"},
    }
    assert set(found("identify", payload)) == {
        ("user_id", "", "crm-42"),
        ("anonymous_id", "", "anon-1"),
        ("email", "", "wang.fang@qq.com"),
        ("phone", "", "+8613800138000"),
    }


def test_top_level_traits_only_count_on_identify_but_context_traits_always_do():
    payload = {
        "anonymousId": "anon-1",
        "traits": {"email": "ignored@example.org"},
        "context": {"traits": {"email": "kept@example.org", "mobile": "+86 139-1234-5678"}},
    }
    assert set(found("track", payload)) == {
        ("anonymous_id", "", "anon-1"),
        ("email", "", "kept@example.org"),
        ("phone", "", "+8613912345678"),
    }


def test_alias_previous_id_is_an_anonymous_id_and_only_on_alias():
    assert set(found("alias", {"userId": "u-1", "previousId": "anon-old"})) == {
        ("user_id", "", "u-1"),
        ("anonymous_id", "", "anon-old"),
    }
    assert found("track", {"userId": "u-1", "previousId": "anon-old"}) == [("user_id", "", "u-1")]


def test_device_id_comes_from_context_device():
    payload = {"anonymousId": "a", "context": {"device": {"id": "dev-9", "type": "ios"}}}
    assert ("device_id", "", "dev-9") in found("screen", payload)


def test_external_ids_map_known_types_and_keep_custom_ones_with_their_collection():
    payload = {
        "anonymousId": "a",
        "context": {
            "externalIds": [
                {"type": "crm_id", "id": "CRM-7", "collection": "users", "encoding": "none"},
                {"type": "Loyalty Card", "id": "LC-001", "collection": "store-sh"},
                {"type": "member_no", "id": "M-5"},
                {"type": "email", "id": "Ext@Example.org", "collection": "users"},
            ]
        },
    }
    assert set(found("track", payload)) == {
        ("anonymous_id", "", "a"),
        # Built-in unscoped types drop the collection: a CRM id is one per tenant.
        ("user_id", "", "CRM-7"),
        ("email", "", "ext@example.org"),
        ("loyalty_card", "store-sh", "LC-001"),
        ("member_no", "", "M-5"),
    }


def test_wechat_ids_are_scoped_by_their_collection():
    payload = {
        "anonymousId": "a",
        "context": {
            "externalIds": [
                {"type": "wechat_openid", "id": "oWx123", "collection": " wxapp1 "},
                {"type": "unionid", "id": "uWx9", "collection": "open-1"},
            ]
        },
    }
    assert set(found("track", payload)) == {
        ("anonymous_id", "", "a"),
        ("wechat_openid", "wxapp1", "oWx123"),
        ("wechat_unionid", "open-1", "uWx9"),
    }


def test_the_same_openid_in_two_apps_is_two_identifiers_and_unscoped_is_a_third():
    def openid(collection: str | None) -> Any:
        item = {"type": "wechat_openid", "id": "same-openid"}
        if collection is not None:
            item["collection"] = collection
        payload = {"anonymousId": "a", "context": {"externalIds": [item]}}
        cands = extract_identifiers("track", payload, GUARD, "CN")
        return next(c for c in cands if c.type == "wechat_openid")

    in_a, in_b, bare = openid("app-A"), openid("app-B"), openid(None)
    assert (bare.scope, bare.value) == ("", "same-openid")
    assert len({in_a.key_hash, in_b.key_hash, bare.key_hash}) == 3
    assert in_a.key_hash == blind_index("wechat_openid", "app-A", "same-openid")


def test_malformed_external_ids_are_skipped_not_fatal():
    payload = {
        "anonymousId": "a",
        "context": {
            "externalIds": [
                "not-a-dict",
                {"type": "crm_id"},
                {"id": "no-type"},
                {"type": "bad.type", "id": "x"},
                {"type": "crm_id", "id": ""},
                {"type": "email", "id": "not-an-email"},
            ]
        },
    }
    assert found("track", payload) == [("anonymous_id", "", "a")]


@pytest.mark.parametrize(
    "junk", ["null", "NULL", " undefined ", "0", "-1", "None", "[object Object]", "guest"]
)
def test_blocked_values_never_become_identifiers(junk):
    payload = {
        "userId": junk,
        "anonymousId": junk,
        "context": {
            "device": {"id": junk},
            "externalIds": [{"type": "wechat_openid", "id": junk, "collection": "app"}],
        },
    }
    assert found("track", payload) == []


def test_blocked_emails_and_phones_are_compared_after_normalisation():
    payload = {
        "anonymousId": "a",
        "traits": {"email": " TEST@Test.com "},
        "context": {"traits": {"email": "Test@Example.com"}},
    }
    assert found("identify", payload) == [("anonymous_id", "", "a")]
    assert found("identify", {"userId": 0, "anonymousId": "a"}) == [("anonymous_id", "", "a")]


def test_configured_blocked_values_are_added_to_the_defaults():
    guard = Guardrails(
        blocked=DEFAULT_BLOCKED_VALUES | {"shared-kiosk", "front-desk@shop.cn", "+8613800000000"},
        limits=dict(DEFAULT_LIMITS),
    )
    payload = {
        "anonymousId": "Shared-Kiosk",
        "userId": "null",
        "traits": {"email": "Front-Desk@shop.cn", "phone": "138 0000 0000"},
        "context": {"traits": {"phone": "13800138000"}},
    }
    assert found("identify", payload, guard) == [("phone", "", "+8613800138000")]
    assert found("identify", payload) == [
        ("email", "", "front-desk@shop.cn"),
        *sorted(
            [("phone", "", "+8613800000000"), ("phone", "", "+8613800138000")],
            key=lambda t: blind_index(*t),
        ),
        ("anonymous_id", "", "Shared-Kiosk"),
    ]


def test_invalid_values_are_skipped_and_the_rest_kept():
    payload = {
        "userId": "u-1",
        "traits": {"email": "nope", "phone": "12345"},
        "context": {"device": {"id": {"nested": True}}},
    }
    assert found("identify", payload) == [("user_id", "", "u-1")]


def test_one_identifier_seen_twice_in_an_event_is_one_candidate():
    payload = {
        "userId": "u-1",
        "anonymousId": "u-1",  # another type: another identifier
        "traits": {"email": "A@x.com", "phone": "138 0013 8000", "mobile": "+8613800138000"},
        "context": {
            "traits": {"email": " a@X.COM", "phone": "008613800138000"},
            "externalIds": [
                {"type": "userId", "id": "u-1"},
                {"type": "email", "id": "a@x.com"},
            ],
        },
    }
    cands = extract_identifiers("identify", payload, GUARD, "CN")
    assert sorted((c.type, c.value) for c in cands) == [
        ("anonymous_id", "u-1"),
        ("email", "a@x.com"),
        ("phone", "+8613800138000"),
        ("user_id", "u-1"),
    ]
    assert len({c.key_hash for c in cands}) == len(cands)


def test_candidates_come_strongest_first_whatever_order_the_payload_has():
    payload = {
        "anonymousId": "anon",
        "context": {
            "device": {"id": "dev"},
            "traits": {"phone": "13800138000", "email": "e@x.com"},
            "externalIds": [
                {"type": "member_no", "id": "M-1"},
                {"type": "wechat_openid", "id": "o1", "collection": "app"},
                {"type": "wechat_unionid", "id": "un1", "collection": "open"},
            ],
        },
        "userId": "u",
    }
    types = [c.type for c in extract_identifiers("track", payload, GUARD, "CN")]
    assert types == [
        "user_id",
        "wechat_unionid",
        "email",
        "phone",
        "wechat_openid",
        "member_no",
        "device_id",
        "anonymous_id",
    ]


def test_equal_strength_is_ordered_by_blind_index_so_the_anchor_is_deterministic():
    forward = {"context": {"externalIds": [{"type": "crm_id", "id": f"c{i}"} for i in range(6)]}}
    backward = {"context": {"externalIds": forward["context"]["externalIds"][::-1]}}
    a = extract_identifiers("track", forward, GUARD, "CN")
    b = extract_identifiers("track", backward, GUARD, "CN")
    assert [c.key_hash for c in a] == [c.key_hash for c in b] == sorted(c.key_hash for c in a)
