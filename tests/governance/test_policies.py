"""Access policies: validation, the admin API, audit with before/after, and that a change
reaches the next read."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from omnicx.governance.audit import AuditFilter, detail_of, search
from omnicx.governance.policies import (
    DEFAULT_ROLES,
    PolicyDocument,
    RolePolicy,
)
from tests.governance.masking_people import EMAIL, MASKED, seed_person, token_for


def test_a_role_policy_is_validated():
    with pytest.raises(ValidationError, match="more openly"):
        RolePolicy.model_validate(
            {"personal": {"display": "hidden"}, "sensitive": {"display": "masked"}}
        )
    with pytest.raises(ValidationError):
        RolePolicy.model_validate(
            {"personal": {"display": "blurred"}, "sensitive": {"display": "hidden"}}
        )
    with pytest.raises(ValidationError):
        RolePolicy.model_validate(
            {
                "personal": {"display": "plain"},
                "sensitive": {"display": "hidden"},
                "orders_limit": -1,
            }
        )
    with pytest.raises(ValidationError):
        RolePolicy.model_validate(
            {"personal": {"display": "plain"}, "sensitive": {"display": "hidden"}, "extra": 1}
        )
    # Revealing what is shown in plain means nothing; it is dropped, not stored.
    plain = RolePolicy.model_validate(
        {"personal": {"display": "plain", "revealable": True}, "sensitive": {"display": "hidden"}}
    )
    assert plain.personal.revealable is False


def test_the_classification_is_validated_and_normalised():
    document = PolicyDocument.model_validate(
        {"fields": {"loyaltyNo": "personal", "Member-Card": {"class": "sensitive", "mask": "full"}}}
    )
    assert document.fields["loyalty_no"].field_class == "personal"
    assert document.fields["member_card"].mask == "full"
    for bad in (
        {"a key": "personal"},
        {"x": "secret"},
        {"x": {"class": "personal", "mask": "blur"}},
    ):
        with pytest.raises(ValidationError):
            PolicyDocument.model_validate({"fields": bad})
    with pytest.raises(ValidationError, match="unknown role"):
        PolicyDocument.model_validate({"roles": {"boss": DEFAULT_ROLES["admin"].model_dump()}})


def policy_changes(db):
    with db.read() as session:
        return [
            (e.target_id, detail_of(e))
            for e in search(session, AuditFilter(action="policy.change"))
        ]


def test_admins_read_and_change_a_role_policy_and_the_next_read_follows(client, db):
    customer_id = seed_person(client, db)
    admin, agent = token_for(db, "admin"), token_for(db, "agent")
    assert client.get("/api/v1/admin/policies", headers=agent).status_code == 403
    current = client.get("/api/v1/admin/policies/agent", headers=admin).json()
    assert current == DEFAULT_ROLES["agent"].model_dump(mode="json")
    assert (
        client.get(f"/api/v1/customers/{customer_id}", headers=agent).json()["traits"]["email"]
        == (MASKED["email"])
    )

    trusted = {
        "personal": {"display": "plain"},
        "sensitive": {"display": "hidden"},
        "orders_limit": 1,
        "timeline_limit": 5,
    }
    changed = client.put("/api/v1/admin/policies/agent", json=trusted, headers=admin)
    assert changed.status_code == 200 and changed.json()["orders_limit"] == 1
    view = client.get(f"/api/v1/customers/{customer_id}", headers=agent).json()
    assert view["traits"]["email"] == EMAIL and len(view["orders"]) == 1
    assert [
        (t, d["before"]["orders_limit"], d["after"]["orders_limit"]) for t, d in policy_changes(db)
    ] == [("agent", 3, 1)]

    reset = client.delete("/api/v1/admin/policies/agent", headers=admin)
    assert reset.json() == DEFAULT_ROLES["agent"].model_dump(mode="json")
    view = client.get(f"/api/v1/customers/{customer_id}", headers=agent).json()
    assert view["traits"]["email"] == MASKED["email"]

    assert client.get("/api/v1/admin/policies/boss", headers=admin).status_code == 404
    invalid = client.put(
        "/api/v1/admin/policies/agent",
        json={"personal": {"display": "hidden"}, "sensitive": {"display": "plain"}},
        headers=admin,
    )
    assert invalid.status_code == 422 and len(policy_changes(db)) == 2


def test_the_document_overrides_defaults_and_never_declassifies_by_omission(client, db):
    customer_id = seed_person(client, db)
    admin, agent = token_for(db, "admin"), token_for(db, "agent")
    document = {
        "fields": {"tier": "personal", "city": {"class": "sensitive", "mask": "full"}},
        "roles": {"agent": {"personal": {"display": "masked"}, "sensitive": {"display": "hidden"}}},
    }
    stored = client.put("/api/v1/admin/policies", json=document, headers=admin)
    assert stored.status_code == 200, stored.text
    fields = stored.json()["fields"]
    assert fields["tier"] == {"class": "personal", "mask": "auto"}
    assert fields["phone"]["class"] == "personal"  # a default left out stays
    traits = client.get(f"/api/v1/customers/{customer_id}", headers=agent).json()["traits"]
    assert traits["tier"] == "****"
    assert "city" not in traits and traits["phone"].endswith(MASKED["phone"])
    # Agents' orders_limit was left out of their policy: it is the schema default (all).
    assert stored.json()["roles"]["agent"]["orders_limit"] is None
    [(target, detail)] = policy_changes(db)
    assert target == "*" and detail["before"]["fields"] == {}
    assert detail["after"]["fields"] == {
        "tier": {"class": "personal", "mask": "auto"},
        "city": {"class": "sensitive", "mask": "full"},
    }
    # Replacing the document again without them restores the defaults.
    assert client.put("/api/v1/admin/policies", json={}, headers=admin).status_code == 200
    again = client.get(f"/api/v1/customers/{customer_id}", headers=agent).json()
    assert again["traits"]["tier"] == "gold" and again["traits"]["city"] == "上海"
    assert again["access"]["orders_limit"] == 3
