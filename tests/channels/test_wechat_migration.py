"""Migration 0015 creates WeChat's tables exactly as the models declare them, and going
back to 0014 removes them. SQLite and PostgreSQL."""

from __future__ import annotations

from tests.core.test_migrations import empty_database  # noqa: F401  (a fixture)
from tests.desk.test_migration import check_revision

TABLES = {"wechat_callback_nonces", "wechat_contacts", "wechat_access_tokens"}


def test_0015_matches_the_models_and_downgrades(empty_database):  # noqa: F811
    check_revision(empty_database, "0015", "0014", TABLES)
