"""Migration 0018 creates the phone channel's tables exactly as the models declare them,
and going back to 0017 removes them. SQLite and PostgreSQL."""

from __future__ import annotations

from tests.core.test_migrations import empty_database  # noqa: F401  (a fixture)
from tests.desk.test_migration import check_revision

TABLES = {"phone_calls", "phone_webhook_signatures", "desk_call_pops"}


def test_0018_matches_the_models_and_downgrades(empty_database):  # noqa: F811
    check_revision(empty_database, "0018", "0017", TABLES)
