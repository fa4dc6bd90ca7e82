"""Trait merge strategies give the same result whatever the arrival order."""

from __future__ import annotations

import itertools

from omnicx.customers.traits import apply_traits, combine_traits


def fold(updates, strategies):
    traits, times = {}, {}
    for values, at in updates:
        apply_traits(traits, times, values, at, strategies)
    return traits


def test_last_write_by_event_time_wins_in_any_order():
    updates = [({"city": "上海"}, 100), ({"city": "北京"}, 300), ({"city": "深圳"}, 200)]
    results = {tuple(sorted(fold(p, {}).items())) for p in itertools.permutations(updates)}
    assert results == {(("city", "北京"),)}


def test_first_strategy_keeps_the_earliest_value():
    updates = [({"signup_source": "wechat"}, 300), ({"signup_source": "web"}, 100)]
    for order in itertools.permutations(updates):
        assert fold(order, {"signup_source": "first"}) == {"signup_source": "web"}


def test_equal_times_are_broken_by_value_not_by_arrival():
    updates = [({"tier": "gold"}, 100), ({"tier": "silver"}, 100)]
    results = {fold(p, {})["tier"] for p in itertools.permutations(updates)}
    assert len(results) == 1


def test_combining_two_customers_is_per_trait():
    kept = ({"name": "Wang Fang", "city": "Beijing"}, {"name": 100, "city": 500})
    other = (
        {"name": "王芳", "city": "Shanghai", "vip": True},
        {"name": 200, "city": 100, "vip": 50},
    )
    combine_traits(kept, other, {})
    assert kept[0] == {"name": "王芳", "city": "Beijing", "vip": True}
