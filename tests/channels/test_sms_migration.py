"""Migration 0016 creates SMS's tables exactly as the models declare them, and going
back to 0015 removes them. SQLite and PostgreSQL."""

from __future__ import annotations

from tests.core.test_migrations import empty_database  # noqa: F401  (a fixture)
from tests.desk.test_migration import check_revision

TABLES = {"sms_messages", "sms_sink"}


def test_0016_matches_the_models_and_downgrades(empty_database):  # noqa: F811
    check_revision(empty_database, "0016", "0015", TABLES)
