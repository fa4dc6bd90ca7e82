"""Migration 0007 creates the SLA tables exactly as the models declare them, and
downgrading to 0006 removes them. SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from omnicx.core.database import Base
from omnicx.core.migrate import downgrade, upgrade
from omnicx.runtime.schema import load_all_models
from tests.conftest import _sqlalchemy_url
from tests.core.test_migrations import empty_database  # noqa: F401  (a fixture)

TABLES = {"desk_calendars", "desk_sla_policies", "desk_sla_clocks"}


def engine_for(url: str):
    return create_engine(url if url.startswith("sqlite") else _sqlalchemy_url(url))


def test_0007_matches_the_models_and_downgrades(empty_database):  # noqa: F811
    upgrade(empty_database)
    load_all_models()
    engine = engine_for(empty_database)
    try:
        with engine.connect() as conn:
            assert set(inspect(conn).get_table_names()) >= TABLES
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            differences = [
                d for d in compare_metadata(context, Base.metadata) if _table_of(d) in TABLES
            ]
        assert differences == []
        downgrade(empty_database, "0006")
        with engine.connect() as conn:
            assert not TABLES & set(inspect(conn).get_table_names())
        upgrade(empty_database)
    finally:
        engine.dispose()


def _table_of(difference) -> str | None:
    item = difference[0] if isinstance(difference, list) else difference
    for part in item[1:]:
        name = getattr(part, "name", None)
        table = getattr(part, "table", None)
        if table is not None and getattr(table, "name", None):
            return str(table.name)
        if isinstance(part, str) and part in TABLES:
            return part
        if name in TABLES:
            return str(name)
    return None
