"""Migration 0006 creates exactly the desk's models, on SQLite and PostgreSQL, and its
downgrade removes them."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from omnicx.core.database import Base
from omnicx.core.migrate import downgrade, upgrade
from omnicx.runtime.schema import load_all_models
from tests.conftest import _sqlalchemy_url
from tests.core.test_migrations import empty_database  # noqa: F401  (fixture)

DESK_TABLES = {
    "desk_teams",
    "desk_agents",
    "desk_team_members",
    "desk_routing_rules",
    "desk_conversations",
    "desk_messages",
    "desk_conversation_history",
    "desk_report_events",
}


def _engine(url: str):
    return create_engine(url if url.startswith("sqlite") else _sqlalchemy_url(url))


def check_revision(url: str, revision: str, previous: str, tables: set[str]) -> None:
    """Upgrading to ``revision`` creates ``tables`` exactly as the models say; going back
    to ``previous`` removes them."""
    upgrade(url, revision)
    load_all_models()
    engine = _engine(url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert [d for d in diff if any(f"'{t}'" in repr(d) for t in tables)] == []
    assert tables <= set(inspect(engine).get_table_names())
    engine.dispose()
    downgrade(url, previous)
    engine = _engine(url)
    assert not tables & set(inspect(engine).get_table_names())
    engine.dispose()


def test_models_and_migration_agree_and_downgrade_removes_the_desk(empty_database):  # noqa: F811
    """0006's tables as the models have them after every later revision (0012 gives
    messages their outbox link); back to 0005 they are gone."""
    upgrade(empty_database, "head")
    load_all_models()
    engine = _engine(empty_database)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    desk_diff = [d for d in diff if any(f"'{t}'" in repr(d) for t in DESK_TABLES)]
    assert desk_diff == []
    assert set(inspect(engine).get_table_names()) >= DESK_TABLES
    engine.dispose()
    downgrade(empty_database, "0005")
    engine = _engine(empty_database)
    assert not DESK_TABLES & set(inspect(engine).get_table_names())
    engine.dispose()


def test_0014_adds_the_attachment_store_and_files_on_transcript_lines(empty_database):  # noqa: F811
    """The attachment table as its model has it, and web chat lines' files; 0013 again
    has neither."""
    check_revision(empty_database, "0014", "0013", {"desk_attachments"})
    engine = _engine(empty_database)
    columns = {c["name"] for c in inspect(engine).get_columns("webchat_messages")}
    assert "attachments" not in columns
    engine.dispose()
    upgrade(empty_database, "0014")
    load_all_models()
    engine = _engine(empty_database)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert [d for d in diff if "'webchat_messages'" in repr(d)] == []
    columns = {c["name"] for c in inspect(engine).get_columns("webchat_messages")}
    assert "attachments" in columns
    engine.dispose()
