"""Proving a request comes from Twilio: ``X-Twilio-Signature`` is the Base64 HMAC-SHA1,
under the account's auth token, of the URL Twilio posted to followed by the sorted form
fields (Twilio's own ``RequestValidator`` computes and compares it).

The URL is the one the channel was created for (``OMNICX_PUBLIC_URL`` at the time), not
the address the request reached us at: behind a proxy the two differ, and Twilio signs
the one it was given.
"""

from __future__ import annotations

from collections.abc import Mapping

from twilio.request_validator import RequestValidator

from omnicx.channels.service import ChannelView

# Twilio's webhooks are small forms (a text is at most 1,600 characters).
MAX_BODY_BYTES = 64 * 1024


class WebhookRefused(Exception):
    """The request does not prove it comes from Twilio for this channel (``reason``:
    ``unsigned``, ``forged``, ``wrong_account``); audited, nothing is kept."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def check_signature(
    channel: ChannelView, url: str, form: Mapping[str, str], signature: str | None
) -> None:
    """Refuse (``WebhookRefused``) a form not signed with the channel's auth token over
    ``url``, or signed for another Twilio account."""
    if not signature:
        raise WebhookRefused("unsigned")
    token = channel.secrets.get("auth_token", "")
    if not token or not RequestValidator(token).validate(url, dict(form), signature):
        raise WebhookRefused("forged")
    # The sink has no Twilio account: its webhooks come from a demo, not from Twilio.
    account, ours = form.get("AccountSid"), channel.settings.get("account_sid")
    if account and ours and account != ours:
        raise WebhookRefused("wrong_account")
