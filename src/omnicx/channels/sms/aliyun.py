"""Alibaba Cloud SMS (短信服务): ``SendSms`` (API version 2017-05-25) with the RPC
signature v1, for notifications to mainland numbers.

The request's parameters (the common ones — ``AccessKeyId``, ``SignatureNonce``,
``Timestamp``… — and ``PhoneNumbers``, ``SignName``, ``TemplateCode``,
``TemplateParam``) are sorted and percent-encoded (RFC 3986); the string to sign is
``POST&%2F&`` and that canonical query, percent-encoded again; ``Signature`` is its
Base64 HMAC-SHA1 under the AccessKey secret followed by ``&``.

Mainland carriers take only approved templates: the channel's template gets the text as
its ``${content}`` parameter (a payload may give the template's parameters itself).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import quote

import httpx
import phonenumbers

from omnicx.channels.service import ChannelView
from omnicx.channels.sms.providers import BAD_CREDENTIALS, REFUSED, TIMEOUT_SECONDS, Handed
from omnicx.core.i18n import Message, msg
from omnicx.core.outbox import DeliveryFailed, DeliveryRefused
from omnicx.core.serialization import dumps

API_VERSION = "2017-05-25"
# Alibaba Cloud's answers that another attempt cannot cure (others are retried:
# flow control, the service busy).
ALIYUN_REFUSALS: dict[str, Message] = {
    "isv.MOBILE_NUMBER_ILLEGAL": msg("The number is not a valid phone number for text messages."),
    "isv.TEMPLATE_MISSING_PARAMETERS": msg(
        "The SMS template's parameters do not match what was sent: an administrator must "
        "check the channel's template."
    ),
    "isv.SMS_TEMPLATE_ILLEGAL": msg(
        "The SMS template is not approved: an administrator must check the channel's template."
    ),
    "isv.SMS_SIGNATURE_ILLEGAL": msg(
        "The SMS signature is not approved: an administrator must check the channel's sign name."
    ),
    "isv.DENY_IP_RANGE": BAD_CREDENTIALS,
    "InvalidAccessKeyId.NotFound": BAD_CREDENTIALS,
    "SignatureDoesNotMatch": BAD_CREDENTIALS,
    "isp.RAM_PERMISSION_DENY": BAD_CREDENTIALS,
}
RETRIED = frozenset({"isv.BUSINESS_LIMIT_CONTROL", "Throttling.User"})


def percent(value: str) -> str:
    """RFC 3986 percent-encoding, as Alibaba Cloud's canonicalisation wants it."""
    return quote(value, safe="~")


def string_to_sign(method: str, parameters: Mapping[str, str]) -> str:
    canonical = "&".join(f"{percent(k)}={percent(v)}" for k, v in sorted(parameters.items()))
    return f"{method}&{percent('/')}&{percent(canonical)}"


def signature(secret: str, method: str, parameters: Mapping[str, str]) -> str:
    digest = hmac.new(
        (secret + "&").encode(), string_to_sign(method, parameters).encode(), hashlib.sha1
    ).digest()
    return base64.b64encode(digest).decode()


def mainland_number(e164: str) -> str:
    """Alibaba Cloud's form of a number: national digits for +86, else country code and
    number without ``+``."""
    number = phonenumbers.parse(e164)
    if number.country_code == 86:
        return str(number.national_number)
    return f"{number.country_code}{number.national_number}"


def signed_parameters(
    channel: ChannelView,
    to: str,
    template_param: Mapping[str, str],
    reference: str,
    now: datetime | None = None,
    nonce: str | None = None,
) -> dict[str, str]:
    """``SendSms``'s parameters for one text, signed."""
    settings = channel.settings
    parameters = {
        "AccessKeyId": str(settings.get("access_key_id") or ""),
        "Action": "SendSms",
        "Format": "JSON",
        "OutId": reference[:256],
        "PhoneNumbers": mainland_number(to),
        "RegionId": "cn-hangzhou",
        "SignName": str(settings.get("sign_name") or ""),
        "SignatureMethod": "HMAC-SHA1",
        "SignatureNonce": nonce or uuid.uuid4().hex,
        "SignatureVersion": "1.0",
        "TemplateCode": str(settings.get("template_code") or ""),
        "TemplateParam": dumps(dict(template_param)),
        "Timestamp": (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "Version": API_VERSION,
    }
    secret = channel.secrets.get("access_key_secret", "")
    return parameters | {"Signature": signature(secret, "POST", parameters)}


class AliyunProvider:
    """Sends through Alibaba Cloud SMS's ``SendSms``."""

    def __init__(self, channel: ChannelView, template_param: Mapping[str, str] | None = None):
        self.channel = channel
        self.template_param = template_param

    def send(self, to: str, text: str, reference: str) -> Handed:
        parameters = signed_parameters(
            self.channel, to, self.template_param or {"content": text}, reference
        )
        base = str(self.channel.settings.get("api_base_url") or "")
        try:
            response = httpx.post(base + "/", data=parameters, timeout=TIMEOUT_SECONDS)
        except httpx.HTTPError as exc:
            raise DeliveryFailed(f"Alibaba Cloud SMS: {type(exc).__name__}: {exc}") from exc
        if response.status_code >= 500:
            raise DeliveryFailed(f"Alibaba Cloud SMS: HTTP {response.status_code}")
        try:
            body = response.json()
        except ValueError as exc:
            raise DeliveryFailed(
                f"Alibaba Cloud SMS: HTTP {response.status_code}, not JSON"
            ) from exc
        code = str(body.get("Code") or "") if isinstance(body, dict) else ""
        if code == "OK" and body.get("BizId"):
            return Handed(str(body["BizId"])[:64], "sent")
        if code not in ALIYUN_REFUSALS and (code in RETRIED or code.startswith("isp.") or not code):
            raise DeliveryFailed(f"Alibaba Cloud SMS: {code or response.status_code}")
        raise DeliveryRefused(ALIYUN_REFUSALS.get(code, REFUSED))
