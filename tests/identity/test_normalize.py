"""Normalisation: one person's identifier always has one spelling, and junk is refused."""

from __future__ import annotations

import pytest

from omnicx.identity.normalize import (
    InvalidIdentifier,
    canonical_type,
    normalize,
    normalize_email,
    normalize_phone,
    normalize_scope,
)


@pytest.mark.parametrize(
    "raw",
    [
        "13800138000",
        "138 0013 8000",
        "138-0013-8000",
        "(138)0013-8000",
        "+86 138-0013-8000",
        "+8613800138000",
        "8613800138000",
        "008613800138000",
        " 138 0013 8000 ",
    ],
)
def test_chinese_mobile_numbers_in_every_spelling_become_one_e164(raw):
    assert normalize("phone", raw, "CN") == "+8613800138000"


def test_a_number_given_as_an_integer_is_normalised_like_its_digits():
    assert normalize("phone", 13800138000, "CN") == "+8613800138000"


def test_chinese_landline_with_trunk_prefix_and_with_country_code_match():
    assert normalize_phone("010 6552 9988", "CN") == "+861065529988"
    assert normalize_phone("0086 10 6552 9988", "CN") == "+861065529988"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+1 650-253-0000", "+16502530000"),
        ("+1 (212) 555-0100", "+12125550100"),
        ("001 650 253 0000", "+16502530000"),
        ("+44 20 7946 0958", "+442079460958"),
        ("+447911123456", "+447911123456"),
        ("0044 7911 123456", "+447911123456"),
    ],
)
def test_foreign_numbers_with_a_country_code_keep_their_country(raw, expected):
    assert normalize("phone", raw, "CN") == expected


def test_the_default_region_decides_numbers_without_a_country_code():
    assert normalize_phone("(650) 253-0000", "US") == "+16502530000"
    assert normalize_phone("020 7946 0958", "GB") == "+442079460958"
    # The same digits read with the CN default are not a valid number at all.
    with pytest.raises(InvalidIdentifier):
        normalize_phone("(650) 253-0000", "CN")


@pytest.mark.parametrize(
    "raw",
    ["12345", "abc", "+86 000", "138001380001", "1380013800", "+1 555 555 5555", "phone"],
)
def test_invalid_phone_numbers_are_rejected(raw):
    with pytest.raises(InvalidIdentifier):
        normalize("phone", raw, "CN")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Wang.Fang@QQ.com", "wang.fang@qq.com"),
        ("  ZHANG@Example.COM \t", "zhang@example.com"),
        ("li+shop@163.com", "li+shop@163.com"),
    ],
)
def test_emails_are_trimmed_and_lower_cased(raw, expected):
    assert normalize("email", raw, "CN") == expected
    assert normalize_email(raw) == expected


@pytest.mark.parametrize("raw", ["not-an-email", "a@b", "@example.com", "a b@example.com"])
def test_things_that_are_not_email_addresses_are_rejected(raw):
    with pytest.raises(InvalidIdentifier):
        normalize("email", raw, "CN")


@pytest.mark.parametrize("raw", ["", "   ", None, True, {"id": 1}, ["x"], "x" * 501])
def test_empty_wrong_typed_and_overlong_values_are_rejected(raw):
    with pytest.raises(InvalidIdentifier):
        normalize("user_id", raw, "CN")


def test_other_types_are_only_trimmed_and_keep_their_case():
    assert normalize("user_id", "  CRM-42 ", "CN") == "CRM-42"
    assert normalize("wechat_openid", "oWx_AbC", "CN") == "oWx_AbC"
    assert normalize("user_id", 42, "CN") == "42"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("userId", "user_id"),
        ("crm_id", "user_id"),
        ("Mobile", "phone"),
        ("deviceId", "device_id"),
        ("openid", "wechat_openid"),
        ("unionid", "wechat_unionid"),
        ("Loyalty Card", "loyalty_card"),
        ("member-no", "member_no"),
    ],
)
def test_client_type_names_map_to_ours_and_unknown_ones_become_custom(raw, expected):
    assert canonical_type(raw) == expected


@pytest.mark.parametrize("raw", ["1abc", "bad.type", "", "x" * 41, "类型"])
def test_type_names_that_are_not_plain_words_are_refused(raw):
    with pytest.raises(InvalidIdentifier):
        canonical_type(raw)


def test_scope_is_trimmed_and_empty_means_no_scope():
    assert normalize_scope(" wxapp1 ") == "wxapp1"
    assert normalize_scope(None) == ""
    assert normalize_scope("") == ""
    assert len(normalize_scope("s" * 300)) == 100
