"""Settings come from OMNICX_* variables; production refuses the development secrets."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from omnicx.core.database import Database
from omnicx.core.settings import (
    DEV_BLIND_INDEX_KEY,
    DEV_SECRET_KEY,
    InsecureSettings,
    Settings,
    get_settings,
    reset_settings,
)

STRONG_SECRET = "k3y-" + "x7Q9" * 10
STRONG_INDEX_KEY = "bi-" + "Zr4P" * 10


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No OMNICX_* variable and no .env file from the machine running the tests."""
    for name in list(os.environ):
        if name.startswith("OMNICX_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    reset_settings()
    yield
    reset_settings()


def test_production_with_default_secrets_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMNICX_ENV", "production")
    with pytest.raises(InsecureSettings) as refused:
        Settings()
    message = str(refused.value)
    assert "OMNICX_SECRET_KEY" in message
    assert "at least 32 characters" in message
    assert DEV_SECRET_KEY not in message  # the message must not echo a secret


def test_production_refuses_a_default_blind_index_key_even_with_a_strong_secret_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OMNICX_ENV", "production")
    monkeypatch.setenv("OMNICX_SECRET_KEY", STRONG_SECRET)
    with pytest.raises(InsecureSettings, match="OMNICX_BLIND_INDEX_KEY"):
        Settings()


def test_production_refuses_short_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMNICX_ENV", "production")
    monkeypatch.setenv("OMNICX_SECRET_KEY", "short-but-not-default")
    monkeypatch.setenv("OMNICX_BLIND_INDEX_KEY", STRONG_INDEX_KEY)
    with pytest.raises(InsecureSettings, match="OMNICX_SECRET_KEY"):
        Settings()


def test_production_requires_encryption_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMNICX_ENV", "production")
    monkeypatch.setenv("OMNICX_SECRET_KEY", STRONG_SECRET)
    monkeypatch.setenv("OMNICX_BLIND_INDEX_KEY", STRONG_INDEX_KEY)
    with pytest.raises(InsecureSettings, match="OMNICX_ENCRYPTION_KEYS"):
        Settings()


def test_production_with_strong_secrets_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMNICX_ENV", "production")
    monkeypatch.setenv("OMNICX_SECRET_KEY", STRONG_SECRET)
    monkeypatch.setenv("OMNICX_BLIND_INDEX_KEY", STRONG_INDEX_KEY)
    monkeypatch.setenv("OMNICX_ENCRYPTION_KEYS", "k1:" + "A" * 43)
    settings = get_settings()
    assert settings.env == "production"
    assert settings.secret_key.get_secret_value() == STRONG_SECRET
    assert settings.blind_index_key.get_secret_value() == STRONG_INDEX_KEY
    assert STRONG_SECRET not in repr(settings)  # SecretStr keeps it out of logs


def test_development_default_secrets_are_allowed() -> None:
    settings = Settings()
    assert settings.env == "development"
    assert settings.secret_key.get_secret_value() == DEV_SECRET_KEY
    assert settings.blind_index_key.get_secret_value() == DEV_BLIND_INDEX_KEY


def test_default_home_is_var_and_the_database_is_sqlite_there(tmp_path: Path) -> None:
    settings = Settings()
    assert settings.home == Path("./var")
    assert settings.database_url is None
    expected = (tmp_path / "var" / "omnicx.db").resolve()
    assert settings.resolved_database_url == f"sqlite:///{expected}"
    assert settings.event_log == "table"
    assert not settings.uses_nats


def test_home_moves_the_embedded_database(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("OMNICX_HOME", str(tmp_path / "elsewhere"))
    expected = (tmp_path / "elsewhere" / "omnicx.db").resolve()
    assert Settings().resolved_database_url == f"sqlite:///{expected}"


def test_database_url_selects_postgresql(monkeypatch: pytest.MonkeyPatch) -> None:
    url = "postgresql://omnicx@db.internal:5432/omnicx"
    monkeypatch.setenv("OMNICX_DATABASE_URL", url)
    settings = get_settings()
    assert settings.resolved_database_url == url
    database = Database(settings.resolved_database_url)  # engines connect lazily
    try:
        assert not database.sqlite
        assert database.engine.dialect.name == "postgresql"
        assert database.engine.dialect.driver == "psycopg"
    finally:
        database.dispose()


def test_nats_event_log_is_selected_by_its_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMNICX_EVENT_LOG", "nats://127.0.0.1:4222")
    monkeypatch.setenv("OMNICX_NATS_STREAM", "OMNICX_STAGING")
    settings = Settings()
    assert settings.uses_nats
    assert settings.nats_stream == "OMNICX_STAGING"


def test_settings_are_cached_until_reset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMNICX_PORT", "8100")
    first = get_settings()
    monkeypatch.setenv("OMNICX_PORT", "8200")
    assert get_settings() is first
    reset_settings()
    assert get_settings().port == 8200


def test_attachments_default_to_10_mb_of_the_kinds_people_send(monkeypatch: pytest.MonkeyPatch):
    from omnicx.desk.attachments.content_types import allowed

    settings = Settings()
    assert settings.attachment_max_bytes == 10 * 1024 * 1024
    kinds = settings.attachment_types
    for content_type in (
        "image/jpeg",
        "application/pdf",
        "audio/amr",  # WeChat's voice messages
        "video/mp4",
        "text/plain; charset=utf-8",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ):
        assert allowed(content_type, kinds), content_type
    for content_type in (
        "image/svg+xml",
        "text/html",
        "application/zip",
        "application/x-msdownload",
    ):
        assert not allowed(content_type, kinds), content_type
    monkeypatch.setenv("OMNICX_ATTACHMENT_MAX_BYTES", "0")
    with pytest.raises(ValueError):
        Settings()
    monkeypatch.setenv("OMNICX_ATTACHMENT_MAX_BYTES", "2097152")
    monkeypatch.setenv("OMNICX_ATTACHMENT_TYPES", '["image/*"]')
    narrow = Settings()
    assert narrow.attachment_max_bytes == 2 * 1024 * 1024
    assert allowed("image/webp", narrow.attachment_types)
    assert not allowed("application/pdf", narrow.attachment_types)


def test_the_review_webhook_must_be_signed(monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import ValidationError

    monkeypatch.setenv("OMNICX_REVIEW_WEBHOOK_URL", "https://ops.example.cn/hooks/omnicx")
    with pytest.raises(ValidationError) as unsigned:
        Settings()
    assert "OMNICX_REVIEW_WEBHOOK_SECRET" in str(unsigned.value)
    monkeypatch.setenv("OMNICX_REVIEW_WEBHOOK_SECRET", "short")
    with pytest.raises(ValidationError):
        Settings()
    monkeypatch.setenv("OMNICX_REVIEW_WEBHOOK_SECRET", "a-long-enough-secret-2026")
    assert Settings().review_webhook_url == "https://ops.example.cn/hooks/omnicx"
    monkeypatch.setenv("OMNICX_REVIEW_WEBHOOK_URL", "ftp://ops.example.cn/")
    with pytest.raises(ValidationError):
        Settings()
