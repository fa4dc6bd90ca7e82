"""Loading, changing and saving customer profiles for one batch, in bulk."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, text
from sqlalchemy.orm import Session

from omnicx.core.crypto import decrypt_json, encrypt_json
from omnicx.core.database import RawStatements, select_in
from omnicx.core.eventlog.base import LogEvent
from omnicx.core.serialization import dumps, loads
from omnicx.core.time import as_datetime, as_utc, utcnow
from omnicx.customers.models import TRAITS_PURPOSE, CustomerProfile
from omnicx.customers.search import forget_name_terms, name_of, replace_name_terms
from omnicx.customers.traits import Strategy, apply_traits, combine_traits

# Raw statements (see core.database.RawStatements): a batch writes hundreds of rows.
PROFILE_VALUES = (
    "traits, trait_times, channels, event_count, first_seen_at, last_seen_at, updated_at"
)
INSERT_PROFILE = (
    f"INSERT INTO customer_profiles ({PROFILE_VALUES}, customer_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
UPDATE_PROFILE = (
    "UPDATE customer_profiles SET traits = ?, trait_times = ?, channels = ?, event_count = ?,"
    " first_seen_at = ?, last_seen_at = ?, updated_at = ? WHERE customer_id = ?"
)
INSERT_TIMELINE = (
    "INSERT INTO customer_timeline (event_seq, customer_id, occurred_at, type, name, channel,"
    " source_id, order_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
PROFILES_BY_ID = (
    "SELECT customer_id, traits, trait_times, channels, event_count, first_seen_at, last_seen_at"
    " FROM customer_profiles WHERE customer_id IN ({in})"
)


def micros(moment: datetime) -> int:
    return int(as_utc(moment).timestamp() * 1_000_000)


# Segment-style SDKs put their platform in the top-level ``channel``; it is only a hint.
SDK_PLATFORMS = {"browser": "web", "web": "web", "mobile": "app", "app": "app"}


def channel_of(event: LogEvent) -> str:
    """Where the customer was: our channel adapters set context.channel; SDKs imply one."""
    payload = event.payload
    raw_context = payload.get("context")
    context: dict[str, Any] = raw_context if isinstance(raw_context, dict) else {}
    explicit = context.get("channel")
    if isinstance(explicit, str) and explicit:
        return explicit[:32].lower()
    if isinstance(context.get("app"), dict) or event.type == "screen":
        return "app"
    if isinstance(context.get("page"), dict) or event.type == "page":
        return "web"
    platform = payload.get("channel")
    return SDK_PLATFORMS.get(platform, "server") if isinstance(platform, str) else "server"


ORDER_ID_LENGTH = 200  # customer_timeline.order_id


def order_of(event: LogEvent) -> str | None:
    """The order an event is about (``order_id``, or ``orderId`` as some SDKs send it)."""
    properties = event.payload.get("properties")
    if not isinstance(properties, dict):
        return None
    order_id = properties.get("order_id") or properties.get("orderId")
    return str(order_id)[:ORDER_ID_LENGTH] if order_id not in (None, "") else None


def encode_traits(traits: dict[str, Any]) -> str:
    """Traits as stored: JSON, encrypted (names, phones and addresses live here)."""
    return encrypt_json(traits, TRAITS_PURPOSE)


def decode_traits(stored: str | None) -> dict[str, Any]:
    if not stored:
        return {}
    value = decrypt_json(stored, TRAITS_PURPOSE)
    return value if isinstance(value, dict) else {}


def traits_of(event: LogEvent) -> dict[str, Any]:
    payload = event.payload
    found: dict[str, Any] = {}
    context = payload.get("context")
    if isinstance(context, dict) and isinstance(context.get("traits"), dict):
        found.update(context["traits"])
    if event.type == "identify" and isinstance(payload.get("traits"), dict):
        found.update(payload["traits"])
    return found


@dataclass
class Profile:
    customer_id: int
    traits: dict[str, Any] = field(default_factory=dict)
    times: dict[str, int] = field(default_factory=dict)
    channels: set[str] = field(default_factory=set)
    event_count: int = 0
    first_seen_at: datetime | None = None
    last_seen_at: datetime | None = None
    is_new: bool = False
    dirty: bool = False
    # The name its search terms were made from (customers.search): re-indexed on change.
    indexed_name: str = ""

    def see(self, moment: datetime, channel: str) -> None:
        moment = as_utc(moment)
        self.event_count += 1
        if self.first_seen_at is None or moment < self.first_seen_at:
            self.first_seen_at = moment
        if self.last_seen_at is None or moment > self.last_seen_at:
            self.last_seen_at = moment
        self.channels.add(channel)
        self.dirty = True


class ProfileStore:
    """Profiles of one batch, loaded once and written back once."""

    def __init__(self, session: Session, strategies: dict[str, Strategy]):
        self.session = session
        self.strategies = strategies
        self.profiles: dict[int, Profile] = {}
        self.timeline: list[dict[str, Any]] = []
        # The traits each customer's events changed in this batch (for the fact).
        self.changed_traits: dict[int, set[str]] = {}

    def load(self, customer_ids: Iterable[int]) -> None:
        wanted = sorted({c for c in customer_ids if c not in self.profiles})
        for customer_id, traits, times, channels, count, first, last in select_in(
            self.session, PROFILES_BY_ID, wanted
        ):
            self.profiles[customer_id] = Profile(
                customer_id=customer_id,
                traits=decode_traits(traits),
                times=loads(times),
                channels=set(loads(channels)),
                event_count=count,
                first_seen_at=as_datetime(first) if first else None,
                last_seen_at=as_datetime(last) if last else None,
            )
            self.profiles[customer_id].indexed_name = name_of(self.profiles[customer_id].traits)
        for customer_id in wanted:
            if customer_id not in self.profiles:
                self.profiles[customer_id] = Profile(customer_id, is_new=True, dirty=True)

    def project(self, events: Sequence[LogEvent], attribution: dict[int, int | None]) -> None:
        """Fold events into their customers' profiles and timelines."""
        self.load(c for c in attribution.values() if c is not None)
        for event in events:
            customer_id = attribution.get(event.seq or 0)
            if customer_id is None:
                continue
            profile = self.profiles[customer_id]
            channel = channel_of(event)
            profile.see(event.occurred_at, channel)
            incoming = traits_of(event)
            if incoming:
                before = {key: profile.traits.get(key) for key in incoming}
                apply_traits(
                    profile.traits,
                    profile.times,
                    incoming,
                    micros(event.occurred_at),
                    self.strategies,
                )
                changed = {k for k, v in before.items() if profile.traits.get(k) != v}
                if changed:
                    self.changed_traits.setdefault(customer_id, set()).update(changed)
            self.timeline.append(
                {
                    "event_seq": event.seq,
                    "customer_id": customer_id,
                    "occurred_at": event.occurred_at,
                    "type": event.type,
                    "name": event.name,
                    "channel": channel,
                    "source_id": event.source_id,
                    "order_id": order_of(event),
                }
            )

    def merge_all(self, pairs: Sequence[tuple[int, int]]) -> None:
        """Fold each loser's profile into its survivor's (in order) and move the timelines."""
        if not pairs:
            return
        self.load({c for pair in pairs for c in pair})
        for loser, survivor in pairs:
            gone, kept = self.profiles.pop(loser), self.profiles[survivor]
            combine_traits((kept.traits, kept.times), (gone.traits, gone.times), self.strategies)
            kept.event_count += gone.event_count
            for moment in (gone.first_seen_at, gone.last_seen_at):
                if moment is not None:
                    kept.first_seen_at = min(filter(None, (kept.first_seen_at, moment)))
                    kept.last_seen_at = max(filter(None, (kept.last_seen_at, moment)))
            kept.channels |= gone.channels
            kept.dirty = True
        # In order, so that a chain a→b→c ends on c.
        self.session.execute(
            text("UPDATE customer_timeline SET customer_id = :survivor WHERE customer_id = :loser"),
            [{"survivor": survivor, "loser": loser} for loser, survivor in pairs],
        )
        losers = [loser for loser, _ in pairs]
        self.session.execute(delete(CustomerProfile).where(CustomerProfile.customer_id.in_(losers)))
        forget_name_terms(self.session, losers)

    def save(self) -> None:
        raw = RawStatements(self.session)
        now = raw.time(utcnow())
        fresh: list[tuple[Any, ...]] = []
        changed: list[tuple[Any, ...]] = []
        renamed: dict[int, str] = {}
        first_named: list[int] = []
        for profile in self.profiles.values():
            if not profile.dirty:
                continue
            name = name_of(profile.traits)
            if name != profile.indexed_name:
                if not profile.indexed_name:
                    first_named.append(profile.customer_id)
                renamed[profile.customer_id] = profile.indexed_name = name
            values = (
                encode_traits(profile.traits),
                dumps(profile.times),
                dumps(sorted(profile.channels)),
                profile.event_count,
                raw.time(profile.first_seen_at),
                raw.time(profile.last_seen_at),
                now,
                profile.customer_id,
            )
            (fresh if profile.is_new else changed).append(values)
            profile.is_new = profile.dirty = False
        raw.many(INSERT_PROFILE, fresh)
        raw.many(UPDATE_PROFILE, changed)
        replace_name_terms(self.session, renamed, first_named)
        raw.many(
            INSERT_TIMELINE,
            [
                (
                    t["event_seq"],
                    t["customer_id"],
                    raw.time(t["occurred_at"]),
                    t["type"],
                    t["name"],
                    t["channel"],
                    t["source_id"],
                    t["order_id"],
                )
                for t in self.timeline
            ],
        )
        self.timeline = []
