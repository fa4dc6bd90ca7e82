"""Migration 0019 creates the review queues' tables exactly as the models declare them,
and going back to 0018 removes them. SQLite and PostgreSQL."""

from __future__ import annotations

from tests.core.test_migrations import empty_database  # noqa: F401  (a fixture)
from tests.desk.test_migration import check_revision

TABLES = {"review_unmatched", "review_backfill", "review_crm_identifiers"}


def test_0019_matches_the_models_and_downgrades(empty_database):  # noqa: F811
    check_revision(empty_database, "0019", "0018", TABLES)
