"""Per-trait merge strategies.

Every trait remembers the event time that set it, so that merging two customers, or
receiving events out of order, gives the same traits: "last" keeps the value with the
latest event time (the default), "first" keeps the earliest. Equal times are broken by
the value itself, so the result never depends on arrival order.
"""

from __future__ import annotations

from typing import Any, Literal

from omnicx.core.serialization import dumps

Strategy = Literal["last", "first"]


def _wins(strategy: Strategy, new: tuple[int, Any], old: tuple[int, Any]) -> bool:
    (new_at, new_value), (old_at, old_value) = new, old
    if new_at != old_at:
        return new_at > old_at if strategy == "last" else new_at < old_at
    return dumps(new_value) > dumps(old_value)


def apply_traits(
    traits: dict[str, Any],
    times: dict[str, int],
    incoming: dict[str, Any],
    at: int,
    strategies: dict[str, Strategy],
) -> bool:
    """Fold ``incoming`` traits observed at ``at`` (epoch µs) into ``traits``. True if changed."""
    changed = False
    for name, value in incoming.items():
        if name in traits and not _wins(
            strategies.get(name, "last"), (at, value), (times.get(name, 0), traits[name])
        ):
            continue
        if traits.get(name) != value or times.get(name) != at:
            traits[name] = value
            times[name] = at
            changed = True
    return changed


def combine_traits(
    into: tuple[dict[str, Any], dict[str, int]],
    other: tuple[dict[str, Any], dict[str, int]],
    strategies: dict[str, Strategy],
) -> None:
    """Merge another customer's traits into ``into``, trait by trait."""
    traits, times = into
    other_traits, other_times = other
    for name, value in other_traits.items():
        apply_traits(traits, times, {name: value}, other_times.get(name, 0), strategies)
