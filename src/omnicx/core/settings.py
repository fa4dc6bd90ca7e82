"""Settings read from the environment (prefix ``OMNICX_``).

Default secrets exist so that ``make run`` works on a fresh machine; outside the
development environment they are refused at start-up, never silently used.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SECRET_KEY = "dev-only-secret-key-change-me"
DEV_BLIND_INDEX_KEY = "dev-only-blind-index-key-change-me"


def _default_trait_strategies() -> dict[str, Literal["last", "first"]]:
    # Where someone came from is decided by their first visit, not their latest.
    return {"signup_source": "first", "first_utm_source": "first"}


# Kinds of data the retention job knows (see governance.retention) and their default
# periods in days; None keeps that kind for ever.
RETENTION_KINDS: dict[str, int | None] = {
    "behaviour_events": 365,  # track/page/screen events other than orders
    "order_events": 1095,  # track events named "Order …"
    "identify_events": None,  # identify/alias/group: profiles are rebuilt from them
    "dead_letters": 90,  # resolved dead letters (open ones wait for a fix)
    "outbox_messages": 90,  # outbox rows that are finished: sent, dead or refused
    "interactions": None,  # desk conversations: kept (no purge until the desk stores them)
}


def _default_retention() -> dict[str, int | None]:
    return dict(RETENTION_KINDS)


# Images, PDF, audio, video, plain text and office documents (Microsoft and OpenDocument).
ATTACHMENT_TYPES = (
    "image/jpeg",
    "image/png",
    "image/apng",
    "image/gif",
    "image/webp",
    "image/bmp",
    "image/heic",
    "application/pdf",
    "audio/*",
    "video/*",
    "text/plain",
    "application/msword",
    "application/vnd.ms-excel",
    "application/vnd.ms-powerpoint",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/vnd.oasis.opendocument.text",
    "application/vnd.oasis.opendocument.spreadsheet",
    "application/vnd.oasis.opendocument.presentation",
)


def _default_attachment_types() -> list[str]:
    return list(ATTACHMENT_TYPES)


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
    # Where the internet reaches this server (https://cx.example.cn): the web chat snippet
    # and the WeChat callback URL that `omnicx channels create` prints are built on it.
    public_url: str | None = None
    # Also serve /metrics, without a token, on 127.0.0.1:<this port> from `omnicx serve`
    # and `omnicx worker` (docs/operations.md). Unset or 0: only the token-protected route.
    metrics_port: int | None = Field(None, ge=0, le=65535)
    # The SMTP listener of the email channels: `omnicx serve` also listens on this port when
    # it is set (and `omnicx channels smtp` defaults to it); mail over the size gets 552.
    smtp_port: int | None = Field(None, ge=0, le=65535)
    smtp_host: str = "127.0.0.1"
    smtp_max_bytes: int = Field(25 * 1024 * 1024, ge=1024)
    admin_email: str = "admin@omnicx.local"
    admin_password: SecretStr | None = None

    default_phone_region: str = "CN"
    # The site's time zone: the UI shows times in it (stored times stay UTC).
    timezone: str = "Asia/Shanghai"
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
    # Analytics consent of a customer who has not decided (service replies are allowed and
    # marketing is opt-in whatever this says; see docs/security.md, Consent).
    consent_analytics_default: bool = True

    # The desk: a returning customer's message reopens a resolved conversation of the
    # same channel thread within this many hours, else starts a new one.
    desk_reopen_hours: float = Field(24.0, ge=0)
    # Channels whose inbox has a bot: their conversations start ``bot`` and reach the
    # agents' queues on a handoff. Others start ``open`` and are routed at once.
    desk_bot_channels: list[str] = Field(default_factory=list)
    # A quiet live stream (/desk/live) sends a comment line this often, so proxies and
    # load balancers keep the connection open.
    live_heartbeat_seconds: float = Field(15.0, gt=0, le=300)

    # Files attached to desk messages (agents' uploads, visitors', channel media): the
    # largest accepted, and the content types accepted as detected from the bytes
    # ("audio/*" admits every audio type). SVG and HTML are left out on purpose: they
    # can carry scripts.
    attachment_max_bytes: int = Field(10 * 1024 * 1024, ge=1, le=512 * 1024 * 1024)
    attachment_types: list[str] = Field(default_factory=_default_attachment_types)

    # The review queues (docs/desk.md, Unmatched senders and CRM backfill). Identifier
    # types the CRM is the authority for (OMNICX_CRM_IDENTIFIER_TYPES='["member_id"]'):
    # a value of one of them that no CRM source ever sent opens a backfill item.
    crm_identifier_types: list[str] = Field(default_factory=list)
    # The CRM's sources by name, besides every source of kind "crm".
    crm_sources: list[str] = Field(default_factory=list)
    # Where a new review item is announced (POST, JSON, X-OmniCX-Signature: HMAC-SHA256
    # of the body under the secret), through the outbox; unset: in the console only.
    review_webhook_url: str | None = None
    review_webhook_secret: SecretStr | None = None  # required with the URL, 16+ characters

    # Privacy requests must be answered within this many days (PIPL and GDPR: 30).
    privacy_request_days: int = Field(30, ge=1, le=365)
    # Days each kind of data is kept (OMNICX_RETENTION='{"behaviour_events": 365}');
    # kinds not named keep their default; null keeps that kind for ever.
    retention: dict[str, int | None] = Field(default_factory=_default_retention)
    # How often the worker runs the retention job; 0 turns the schedule off.
    retention_interval_hours: float = Field(24.0, ge=0)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use e.g. Asia/Shanghai)") from None
        return value

    @field_validator("retention")
    @classmethod
    def _known_retention_kinds(cls, value: dict[str, int | None]) -> dict[str, int | None]:
        unknown = sorted(set(value) - set(RETENTION_KINDS))
        if unknown:
            raise ValueError(
                f"unknown retention kind(s) {', '.join(unknown)}; "
                f"known: {', '.join(RETENTION_KINDS)}"
            )
        for kind, days in value.items():
            if days is not None and days < 1:
                raise ValueError(f"retention of {kind} must be at least 1 day, or null")
        if value.get("interactions") is not None:
            raise ValueError("interactions can only be kept (null) until the desk stores them")
        return {**RETENTION_KINDS, **value}

    @model_validator(mode="after")
    def _signed_review_webhook(self) -> Settings:
        if self.review_webhook_url is not None:
            if not self.review_webhook_url.startswith(("http://", "https://")):
                raise ValueError("OMNICX_REVIEW_WEBHOOK_URL is an http(s) address")
            secret = self.review_webhook_secret
            if secret is None or len(secret.get_secret_value()) < 16:
                raise ValueError(
                    "OMNICX_REVIEW_WEBHOOK_SECRET (16+ characters) signs the review webhook: "
                    "set it with OMNICX_REVIEW_WEBHOOK_URL"
                )
        return self

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
    def public_base_url(self) -> str:
        """``public_url`` without a trailing slash, else this server's own address."""
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def uses_nats(self) -> bool:
        return self.event_log.startswith("nats://")


@lru_cache
def get_settings() -> Settings:
    return Settings()


def reset_settings() -> None:
    """Forget cached settings (tests and the CLI change the environment)."""
    get_settings.cache_clear()
