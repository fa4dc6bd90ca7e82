"""The demo data set: reproducible, large enough, and accepted by the tracking API."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from omnicx.identity.normalize import normalize
from omnicx.ingest.demo import demo_calls
from omnicx.ingest.tracking import canonical_event

ANCHOR = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def calls() -> list[dict[str, Any]]:
    return list(demo_calls(2000, seed=7, anchor=ANCHOR))


def _contexts(call: dict[str, Any]) -> dict[str, Any]:
    context = call.get("context")
    return context if isinstance(context, dict) else {}


def test_same_seed_same_calls_other_seed_other_calls() -> None:
    first = list(demo_calls(150, seed=3, anchor=ANCHOR))
    assert first == list(demo_calls(150, seed=3, anchor=ANCHOR))
    assert first != list(demo_calls(150, seed=4, anchor=ANCHOR))


def _stamp(call: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(call["timestamp"].replace("Z", "+00:00"))


def test_by_default_the_demo_ends_now_so_the_last_month_is_full() -> None:
    before = datetime.now(UTC)
    stamps = [_stamp(c) for c in demo_calls(300, seed=7)]
    assert before - timedelta(days=180, minutes=1) <= stamps[0]
    assert before - timedelta(days=3) < stamps[-1] <= datetime.now(UTC)
    last_month = [s for s in stamps if s >= before - timedelta(days=30)]
    assert len(last_month) > len(stamps) / 10


def test_two_thousand_customers_make_a_large_time_ordered_data_set(
    calls: list[dict[str, Any]],
) -> None:
    assert len(calls) >= 15_000
    stamps = [_stamp(c) for c in calls]
    assert stamps == sorted(stamps)
    assert ANCHOR - timedelta(days=180) <= stamps[0] and stamps[-1] < ANCHOR


def test_every_call_is_a_valid_tracking_call(calls: list[dict[str, Any]]) -> None:
    received = datetime(2026, 11, 1, 12, tzinfo=UTC)
    for call in calls:
        kind, message_id, _, _, _ = canonical_event(
            call, event_type=None, prefix="", received_at=received, sent_at=None
        )
        assert kind == call["type"] and message_id == call["messageId"]


def test_all_call_types_occur(calls: list[dict[str, Any]]) -> None:
    types = Counter(c["type"] for c in calls)
    assert {"identify", "track", "page", "screen", "alias"} <= set(types)
    assert all("traits" in c for c in calls if c["type"] == "identify")


def test_phones_normalise(calls: list[dict[str, Any]]) -> None:
    phones = {
        traits["phone"]
        for c in calls
        for traits in (c.get("traits") or {}, _contexts(c).get("traits") or {})
        if traits.get("phone")
    }
    assert len(phones) >= 1000
    normalised = {normalize("phone", raw, "CN") for raw in phones}  # InvalidIdentifier fails
    assert len(normalised) >= 1000 and len(normalised) < len(phones)  # several spellings
    assert any(p.startswith("+86") for p in normalised)
    assert any(p.startswith(("+1", "+44")) for p in normalised)


def test_wechat_messages_carry_openids(calls: list[dict[str, Any]]) -> None:
    wechat = [c for c in calls if c.get("event") == "WeChat Message Received"]
    assert wechat and all(_contexts(c)["channel"] == "wechat" for c in wechat)
    ids = [e for c in calls for e in _contexts(c).get("externalIds", [])]
    assert any(e["type"] == "wechat_openid" for e in ids)
    assert any(e["type"] == "wechat_unionid" for e in ids)


def test_data_problems_are_there(calls: list[dict[str, Any]]) -> None:
    counts = Counter(c["messageId"] for c in calls)
    retried = [m for m, n in counts.items() if n > 1]
    assert retried
    by_id: dict[str, dict[str, Any]] = {}
    for call in calls:
        if call["messageId"] in by_id:
            assert call == by_id[call["messageId"]]  # a retry repeats the call exactly
        by_id[call["messageId"]] = call
    junk = [c for c in calls if c.get("anonymousId") in ("null", "undefined")]
    assert junk and all(c.get("userId") for c in junk)


def test_some_customers_have_three_inquiries_within_thirty_days(
    calls: list[dict[str, Any]],
) -> None:
    inquiries: dict[str, list[datetime]] = {}
    for c in calls:
        if c.get("event") == "After-sales Inquiry":
            stamp = datetime.fromisoformat(c["timestamp"].replace("Z", "+00:00"))
            inquiries.setdefault(c["properties"]["order_id"], []).append(stamp)
    assert any(len(s) >= 3 and s[2] - s[0] <= timedelta(days=30) for s in inquiries.values())
