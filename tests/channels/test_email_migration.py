"""Migration 0017 creates email's tables exactly as the models declare them, and going
back to 0016 removes them. SQLite and PostgreSQL."""

from __future__ import annotations

from tests.core.test_migrations import empty_database  # noqa: F401  (a fixture)
from tests.desk.test_migration import check_revision

TABLES = {"email_messages", "email_threads", "email_imap_positions"}


def test_0017_matches_the_models_and_downgrades(empty_database):  # noqa: F811
    check_revision(empty_database, "0017", "0016", TABLES)
