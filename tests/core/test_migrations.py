"""Upgrading a foundation (0001) database seals the personal data it already holds, and
the application reads it afterwards; downgrading opens it again."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from omnicx.core.eventlog.table import read_events
from omnicx.core.migrate import downgrade, upgrade
from omnicx.customers.profiles import decode_traits
from omnicx.identity.models import open_value
from tests.conftest import POSTGRES_URL, _sqlalchemy_url, require_service

PAYLOAD = (
    '{"type": "track", "event": "Order Completed",'
    ' "properties": {"order_id": "SO-1", "phone": "+8613800138000"}}'
)
TRAITS = '{"name": "张伟", "email": "zhang.wei@example.com"}'


@pytest.fixture(params=["sqlite", "postgres"])
def empty_database(request, tmp_path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    require_service("PostgreSQL", POSTGRES_URL, 5432)
    name = f"omnicx_migration_{tmp_path.name[-20:].lower().replace('-', '_')}"
    admin = create_engine(_sqlalchemy_url(POSTGRES_URL), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def foundation_rows(url: str) -> None:
    """What a 0001 database held: plaintext payloads, identifier values and traits."""
    upgrade(url, "0001")
    engine = create_engine(url if url.startswith("sqlite") else _sqlalchemy_url(url))
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO events (seq, source_id, message_id, type, name, occurred_at,"
                " received_at, payload) VALUES (1, 1, 'm-1', 'track', 'Order Completed',"
                " '2026-11-01 10:00:00', '2026-11-01 10:00:00', :p)"
            ),
            {"p": PAYLOAD},
        )
        conn.execute(
            text("INSERT INTO customers (id, conflicted, created_at) VALUES (1, false, :t)"),
            {"t": "2026-11-01 10:00:00"},
        )
        conn.execute(
            text(
                "INSERT INTO identifiers (id, type, scope, key_hash, value, customer_id,"
                " first_seen_at) VALUES (1, 'phone', '', :h, '+8613800138000', 1, :t)"
            ),
            {"h": b"\x01" * 20, "t": "2026-11-01 10:00:00"},
        )
        conn.execute(
            text(
                "INSERT INTO customer_timeline (event_seq, customer_id, occurred_at, type,"
                " name, channel, source_id) VALUES (1, 1, :t, 'track', 'Order Completed',"
                " 'web', 1)"
            ),
            {"t": "2026-11-01 10:00:00"},
        )
        conn.execute(
            text(
                "INSERT INTO customer_profiles (customer_id, traits, trait_times, channels,"
                " event_count) VALUES (1, :t, '{}', '[]', 1)"
            ),
            {"t": TRAITS},
        )
    engine.dispose()


def stored(url: str) -> tuple[str, str, str]:
    engine = create_engine(url if url.startswith("sqlite") else _sqlalchemy_url(url))
    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT e.payload, i.value, p.traits FROM events e, identifiers i,"
                " customer_profiles p"
            )
        ).one()
    engine.dispose()
    return row[0], row[1], row[2]


def test_upgrade_seals_what_the_foundation_stored_and_downgrade_opens_it(empty_database):
    url = empty_database
    foundation_rows(url)
    upgrade(url)
    payload, value, traits = stored(url)
    assert "+8613800138000" not in payload + value and "张伟" not in traits
    assert open_value(value) == "+8613800138000"
    assert decode_traits(traits) == {"name": "张伟", "email": "zhang.wei@example.com"}
    engine = create_engine(url if url.startswith("sqlite") else _sqlalchemy_url(url))
    with Session(engine) as session:
        (event,) = read_events(session, [1])
    assert event.payload["properties"]["phone"] == "+8613800138000"
    with engine.connect() as conn:
        order = conn.execute(text("SELECT order_id FROM customer_timeline")).scalar()
    assert order == "SO-1"  # the 360's orders section groups on it
    engine.dispose()

    downgrade(url, "0001")
    assert stored(url) == (PAYLOAD, "+8613800138000", TRAITS)
