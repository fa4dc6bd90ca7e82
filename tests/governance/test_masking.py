"""The masking functions and a role's view of nested customer data (no database)."""

from __future__ import annotations

import pytest

from omnicx.core.settings import reset_settings
from omnicx.governance.access import RoleView, pseudonym
from omnicx.governance.classifier import Classifier
from omnicx.governance.masking import (
    mask_address,
    mask_date,
    mask_email,
    mask_name,
    mask_phone,
    mask_text,
    mask_value,
)
from omnicx.governance.policies import (
    DEFAULT_FIELDS,
    DEFAULT_ROLES,
    Classification,
    Display,
    FieldClass,
    FieldRule,
    MaskStyle,
)


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("13812348000", "138****8000"),
        ("138 1234 8000", "138****8000"),
        ("+8613812348000", "+86 138****8000"),
        ("+86 138-1234-8000", "+86 138****8000"),
        ("+1 (212) 555-1234", "+1 21****1234"),
        ("+44 20 7183 8750", "+44 20****8750"),
        ("12345", "*****"),
    ],
)
def test_phones_keep_the_first_three_and_last_four_national_digits(raw, masked):
    assert mask_phone(raw) == masked


def test_emails_names_dates_and_addresses():
    assert mask_email("zhang.wei@example.com") == "z***@example.com"
    assert mask_email("not-an-email") == "no****il"
    assert mask_name("张伟") == "张*"
    assert mask_name("欧阳娜娜") == "欧***"
    assert mask_name("王") == "*"
    assert mask_name("John Smith") == "J*** Smith"
    assert mask_name("Madonna") == "M***"
    assert mask_date("1990-03-15") == "1990-**-**"
    assert mask_address("上海市浦东新区张江路100号") == "上海市****"
    assert mask_address("221B Baker Street, London") == "****, London"


def test_auto_masking_goes_by_the_shape_of_the_value():
    assert mask_value("li@corp.cn", MaskStyle.AUTO) == "l***@corp.cn"
    assert mask_value("+86 139 0000 1111", MaskStyle.AUTO) == "+86 139****1111"
    assert mask_value("2001-12-31", MaskStyle.AUTO) == "2001-**-**"
    assert mask_value("oWx3f9AbCdEf", MaskStyle.AUTO) == "oW****Ef"
    assert mask_value(13812348000, MaskStyle.PHONE) == "138****8000"
    assert mask_value(None, MaskStyle.FULL) is None


def test_free_text_masks_phones_and_emails_but_not_order_numbers_or_dates():
    text = (
        "请回电 13812348000 或 +1 212-555-1234，邮件 zw@example.com；"
        "订单 CN000123-1，运单 123456789012，2026-01-01T10:00:00+08:00"
    )
    assert mask_text(text) == (
        "请回电 138****8000 或 +1 21****1234，邮件 z***@example.com；"
        "订单 CN000123-1，运单 123456789012，2026-01-01T10:00:00+08:00"
    )


def view(role: str, **fields: FieldRule) -> RoleView:
    classification = Classification(fields={**DEFAULT_FIELDS, **fields})
    return RoleView(role, DEFAULT_ROLES[role], Classifier(classification))


TRAITS = {
    "name": "张伟华",
    "firstName": "Wei",
    "phone": "+86 138 1234 8000",
    "id_card": "310101199003150011",
    "address": {"city": "上海", "street": "张江路100号"},
    "company": {"name": "Acme", "phone": "021-6123-4567"},
    "note": "call 13812348000",
    "tier": "gold",
}


def test_an_agent_sees_personal_traits_masked_and_no_sensitive_ones():
    shown, how = view("agent").traits(TRAITS)
    assert shown == {
        "name": "张**",
        "firstName": "W***",  # camelCase keys are classified as snake_case
        "phone": "+86 138****8000",
        "address": {"city": "****", "street": "张江路****"},  # inside a personal field
        "company": {"name": "Acme", "phone": "021****4567"},  # a phone anywhere is personal
        "note": "call 138****8000",  # free text
        "tier": "gold",
    }
    fields = {s.field: (s.field_class, s.display, s.revealable) for s in how}
    assert fields["traits.id_card"] == (FieldClass.SENSITIVE, Display.HIDDEN, False)
    assert fields["traits.phone"] == (FieldClass.PERSONAL, Display.MASKED, False)
    assert fields["traits.company"][0] is FieldClass.PERSONAL  # strictest inside
    assert "traits.tier" not in fields


def test_a_senior_agent_may_reveal_and_an_admin_sees_personal_data():
    _, how = view("senior_agent").traits(TRAITS)
    assert all(s.revealable for s in how)
    shown, how = view("admin").traits(TRAITS)
    assert shown["phone"] == TRAITS["phone"] and shown["note"] == TRAITS["note"]
    assert "id_card" not in shown
    assert {s.field for s in how if s.display is Display.HIDDEN} == {"traits.id_card"}


def test_event_properties_name_products_not_people():
    properties = {
        "name": "保温杯",
        "products": [{"name": "保温杯", "sku": "CUP-1"}],
        "contact": {"email": "li@corp.cn"},
    }
    shown = view("agent").properties(properties)
    assert shown["name"] == "保温杯" and shown["products"][0]["name"] == "保温杯"
    assert shown["contact"] == {"email": "l***@corp.cn"}
    # An identify call's traits are traits: there "name" is the person's.
    assert view("agent").properties({"name": "张伟华"}, "traits") == {"name": "张**"}


def test_the_classification_is_configurable_per_key_and_path():
    custom = view(
        "agent",
        loyalty_no=FieldRule(field_class=FieldClass.PERSONAL),
        **{"properties.name": FieldRule(field_class=FieldClass.PERSONAL, mask=MaskStyle.NAME)},
    )
    shown, _ = custom.traits({"loyalty_no": "LN-889900"})
    assert shown == {"loyalty_no": "LN****00"}
    assert custom.properties({"name": "John Smith"}) == {"name": "J*** Smith"}
    value, how = custom.identifier(7, "loyalty_card", "4000123412341234")
    assert value == "40****34" and how.field == "identifiers.7"  # unknown types are personal


def test_identifiers_are_masked_by_type():
    agent = view("agent")
    assert agent.identifier(1, "phone", "+8613812348000")[0] == "+86 138****8000"
    assert agent.identifier(2, "email", "zhang.wei@example.com")[0] == "z***@example.com"
    assert agent.identifier(3, "user_id", "crm-1")[0] == "crm-1"
    assert agent.identifier(4, "wechat_openid", "oWx3f9AbCdEfGh")[0] == "oW****Gh"
    assert view("admin").identifier(1, "phone", "+8613812348000")[0] == "+8613812348000"


def test_pseudonyms_are_stable_distinct_and_keyed(monkeypatch):
    monkeypatch.setenv("OMNICX_ENV", "test")
    reset_settings()
    first = [pseudonym(i) for i in range(1, 2001)]
    assert first == [pseudonym(i) for i in range(1, 2001)]
    assert len(set(first)) == 2000
    assert all(p.startswith("p_") and len(p) == 18 for p in first)
    # Keyed with the secret key: without it, nobody can compute a customer's pseudonym.
    monkeypatch.setenv("OMNICX_SECRET_KEY", "another-secret-key-for-this-test-0123456789")
    reset_settings()
    assert pseudonym(1) != first[0]
    reset_settings()
