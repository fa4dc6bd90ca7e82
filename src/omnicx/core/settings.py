"""Settings read from the environment (prefix ``OMNICX_``).

Default secrets exist so that ``make run`` works on a fresh machine; outside the
development environment they are refused at start-up, never silently used.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SECRET_KEY = "dev-only-secret-key-change-me"
DEV_BLIND_INDEX_KEY = "dev-only-blind-index-key-change-me"


def _default_trait_strategies() -> dict[str, Literal["last", "first"]]:
    # Where someone came from is decided by their first visit, not their latest.
    return {"signup_source": "first", "first_utm_source": "first"}


class InsecureSettings(RuntimeError):
    """A production setting still holds a development default."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OMNICX_", env_file=".env", extra="ignore")

    env: Literal["development", "test", "production"] = "development"
    home: Path = Path("./var")
    database_url: str | None = None
    # "table" keeps the log in the database (embedded default); nats://host:port uses JetStream.
    event_log: str = "table"
    nats_stream: str = "OMNICX_EVENTS"

    secret_key: SecretStr = SecretStr(DEV_SECRET_KEY)
    # Key of the HMAC that turns identifier values into lookup hashes (the blind index).
    blind_index_key: SecretStr = SecretStr(DEV_BLIND_INDEX_KEY)
    # AES-256-GCM keys for PII at rest: "id:base64url-key,older-id:key"; the first encrypts.
    # Unset in development: a key derived from the secret key is used.
    encryption_keys: SecretStr | None = None

    host: str = "127.0.0.1"
    port: int = 8000
    admin_email: str = "admin@omnicx.local"
    admin_password: SecretStr | None = None

    default_phone_region: str = "CN"
    # Per-trait merge strategy: "last" (latest event time wins, the default) or "first".
    trait_strategies: dict[str, Literal["last", "first"]] = Field(
        default_factory=_default_trait_strategies
    )
    # Identifier values that never link anything; compared after normalisation.
    blocked_identifier_values: list[str] = Field(default_factory=list)
    # Overrides of the per-type identifier limits (see identity.rules).
    identifier_limits: dict[str, int] = Field(default_factory=dict)

    processor_batch_size: int = 1000
    outbox_max_attempts: int = 8

    @model_validator(mode="after")
    def _refuse_default_secrets(self) -> Settings:
        if self.env == "production":
            defaults = {
                "OMNICX_SECRET_KEY": (self.secret_key, DEV_SECRET_KEY),
                "OMNICX_BLIND_INDEX_KEY": (self.blind_index_key, DEV_BLIND_INDEX_KEY),
            }
            for name, (value, default) in defaults.items():
                if value.get_secret_value() == default or len(value.get_secret_value()) < 32:
                    raise InsecureSettings(
                        f"{name} must be set to a random value of at least 32 characters "
                        "outside development"
                    )
            if self.encryption_keys is None:
                raise InsecureSettings(
                    "OMNICX_ENCRYPTION_KEYS must be set outside development "
                    "(generate one with `omnicx keys new`)"
                )
        return self

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.home / 'omnicx.db').resolve()}"

    @property
    def uses_nats(self) -> bool:
        return self.event_log.startswith("nats://")


@lru_cache
def get_settings() -> Settings:
    return Settings()


def reset_settings() -> None:
    """Forget cached settings (tests and the CLI change the environment)."""
    get_settings.cache_clear()
