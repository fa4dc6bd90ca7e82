"""Creating an SMS channel: its provider (Twilio, Alibaba Cloud SMS, or the offline
sink), the number it sends from and the provider's keys, checked before anything is
stored. The keys are kept encrypted with the channel and never shown again.

The channel remembers the public address it was created for (``OMNICX_PUBLIC_URL`` or
``--server-url``): Twilio signs its webhooks over the exact URL it posts to, so the
signature is checked against that address, not the one a proxy forwards to us.
"""

from __future__ import annotations

import re
import secrets as random
from dataclasses import dataclass
from urllib.parse import urlsplit

import phonenumbers
from sqlalchemy.orm import Session

from omnicx.channels.models import Channel
from omnicx.channels.service import create_channel
from omnicx.core.errors import InvalidInput
from omnicx.core.i18n import msg
from omnicx.governance.service import SYSTEM, Principal

PROVIDERS = ("twilio", "aliyun", "sink")
DEFAULT_API_BASES = {"twilio": "https://api.twilio.com", "aliyun": "https://dysmsapi.aliyuncs.com"}
ACCOUNT_SID = re.compile(r"^AC[0-9a-fA-F]{32}$")
AUTH_TOKEN = re.compile(r"^[0-9A-Za-z]{16,64}$")
ACCESS_KEY = re.compile(r"^[0-9A-Za-z]{8,64}$")
TEMPLATE_CODE = re.compile(r"^SMS_[0-9]{4,20}$")
INBOUND_PATH = "/sms/twilio/{token}"
STATUS_PATH = "/sms/twilio/{token}/status"


@dataclass(frozen=True, slots=True)
class SmsAccount:
    """What ``omnicx channels create sms`` and the API take."""

    provider: str
    from_number: str | None = None
    account_sid: str | None = None
    auth_token: str | None = None
    access_key_id: str | None = None
    access_key_secret: str | None = None
    sign_name: str | None = None
    template_code: str | None = None
    api_base_url: str | None = None


def phone_number(raw: str, region: str = "CN", field: str = "from") -> str:
    """A phone number in E.164 (``InvalidInput`` naming ``field`` if it is none)."""
    try:
        number = phonenumbers.parse(raw.strip(), region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidInput(
            msg("{value!r} is not a phone number", value=raw[:40]), field=field
        ) from exc
    if not phonenumbers.is_valid_number(number):
        raise InvalidInput(msg("{value!r} is not a phone number", value=raw[:40]), field=field)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def api_base_of(value: str | None, provider: str) -> str:
    """An http(s) address without a trailing slash (``InvalidInput`` if not)."""
    base = (value or DEFAULT_API_BASES.get(provider, "")).strip().rstrip("/")
    parts = urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query:
        raise InvalidInput(
            "the API base URL is an http(s) address such as https://api.twilio.com",
            field="api_base_url",
        )
    return base


def inbound_url(channel: Channel | str, server_url: str) -> str:
    """Where Twilio posts the number's incoming texts (its Messaging webhook)."""
    token = channel if isinstance(channel, str) else channel.public_token
    return server_url.rstrip("/") + INBOUND_PATH.format(token=token)


def status_url(channel: Channel | str, server_url: str) -> str:
    """Where Twilio posts the delivery status of the texts the channel sends."""
    token = channel if isinstance(channel, str) else channel.public_token
    return server_url.rstrip("/") + STATUS_PATH.format(token=token)


def _need(value: str | None, pattern: re.Pattern[str], field: str, what: str) -> str:
    text = (value or "").strip()
    if not pattern.match(text):
        raise InvalidInput(what, field=field)
    return text


def _provider_keys(account: SmsAccount) -> tuple[dict[str, str], dict[str, str]]:
    """The provider's settings and secrets (``InvalidInput`` naming a missing one)."""
    if account.provider == "twilio":
        sid = _need(
            account.account_sid, ACCOUNT_SID, "account_sid",
            "the account SID is AC followed by 32 hexadecimal digits (Twilio console)",
        )  # fmt: skip
        token = _need(
            account.auth_token, AUTH_TOKEN, "auth_token",
            "the auth token is the Twilio console's Auth Token (letters and digits)",
        )  # fmt: skip
        return {"account_sid": sid}, {"auth_token": token}
    if account.provider == "aliyun":
        key_id = _need(
            account.access_key_id, ACCESS_KEY, "access_key_id",
            "the AccessKey ID is letters and digits (Alibaba Cloud RAM console)",
        )  # fmt: skip
        secret = _need(
            account.access_key_secret, ACCESS_KEY, "access_key_secret",
            "the AccessKey secret is letters and digits (Alibaba Cloud RAM console)",
        )  # fmt: skip
        template = _need(
            account.template_code, TEMPLATE_CODE, "template_code",
            "the template code is the SMS template's code, such as SMS_154950909",
        )  # fmt: skip
        sign_name = (account.sign_name or "").strip()
        if not 2 <= len(sign_name) <= 12:
            raise InvalidInput(
                "the sign name is the approved SMS signature (2-12 characters)", field="sign_name"
            )
        settings = {"access_key_id": key_id, "sign_name": sign_name, "template_code": template}
        return settings, {"access_key_secret": secret}
    # The sink sends nothing; it still signs its webhooks like Twilio, so a demo can post
    # texts to it: with the token given, or one generated (shown once).
    token = (account.auth_token or "").strip() or random.token_hex(16)
    _need(token, AUTH_TOKEN, "auth_token", "the auth token is 16-64 letters or digits")
    return {}, {"auth_token": token}


def create_sms_channel(
    session: Session,
    name: str,
    account: SmsAccount,
    *,
    server_url: str,
    actor: Principal = SYSTEM,
) -> tuple[Channel, str | None]:
    """Check the provider's settings and create the channel (audited, without secrets);
    returns it and, for a sink without a token given, the generated webhook token."""
    if account.provider not in PROVIDERS:
        raise InvalidInput(
            msg("the provider is one of: {names}", names=", ".join(PROVIDERS)), field="provider"
        )
    if not account.from_number and account.provider != "aliyun":
        raise InvalidInput("name the number the channel sends from (--from)", field="from")
    from_number = phone_number(account.from_number) if account.from_number else None
    settings, secrets = _provider_keys(account)
    public = server_url.rstrip("/")
    if urlsplit(public).scheme not in ("http", "https"):
        raise InvalidInput("the public URL is an http(s) address", field="server_url")
    region = (
        phonenumbers.region_code_for_number(phonenumbers.parse(from_number))
        if from_number
        else None
    )
    kept: dict[str, str | None] = {
        **settings,
        "provider": account.provider,
        "from": from_number,
        "public_url": public,
        "region": region or "CN",
    }
    if account.provider != "sink":
        kept["api_base_url"] = api_base_of(account.api_base_url, account.provider)
    generated = (
        secrets["auth_token"] if account.provider == "sink" and not account.auth_token else None
    )
    channel, _ = create_channel(session, "sms", name, settings=kept, secrets=secrets, actor=actor)
    return channel, generated
