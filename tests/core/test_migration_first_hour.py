"""Migration 0005 gives existing sources no browser origin and no old key, on SQLite and
PostgreSQL, and its downgrade keeps the sources."""

from __future__ import annotations

from sqlalchemy import create_engine, inspect, text

from omnicx.core.migrate import downgrade, upgrade
from tests.conftest import _sqlalchemy_url
from tests.core.test_migrations import empty_database  # noqa: F401  (the fixture)

NEW_COLUMNS = {"allowed_origins", "previous_key_hash", "previous_key_expires_at", "key_rotated_at"}


def _engine(url: str):
    return create_engine(url if url.startswith("sqlite") else _sqlalchemy_url(url))


def test_existing_sources_become_server_sources_and_downgrade_keeps_them(empty_database):  # noqa: F811
    url = empty_database
    upgrade(url, "0004")
    engine = _engine(url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO sources (id, name, kind, write_key_hash, write_key_prefix,"
                " created_at) VALUES (1, 'website', 'segment', :h, 'wk_abcde', :t)"
            ),
            {"h": "a" * 64, "t": "2026-11-01 10:00:00"},
        )
    engine.dispose()

    upgrade(url)
    engine = _engine(url)
    columns = {c["name"] for c in inspect(engine).get_columns("sources")}
    assert columns >= NEW_COLUMNS
    indexes = {i["name"] for i in inspect(engine).get_indexes("sources")}
    assert "ix_sources_previous_key_hash" in indexes
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT name, allowed_origins, previous_key_hash FROM sources")
        ).one()
    assert tuple(row) == ("website", "[]", None)
    engine.dispose()

    downgrade(url, "0004")
    engine = _engine(url)
    columns = {c["name"] for c in inspect(engine).get_columns("sources")}
    assert not NEW_COLUMNS & columns
    with engine.connect() as conn:
        assert conn.execute(text("SELECT write_key_hash FROM sources")).scalar() == "a" * 64
    engine.dispose()
