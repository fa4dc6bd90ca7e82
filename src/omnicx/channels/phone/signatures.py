"""Proving a CTI webhook comes from the channel's PBX.

``hmac`` (the default): the PBX sends ``X-OmniCX-Timestamp`` (Unix seconds) and
``X-OmniCX-Signature: sha256=<hex>``, the HMAC-SHA256 under the channel's secret of the
timestamp, a dot and the raw body (``f"{timestamp}.{body}"``, Stripe's scheme). A
timestamp more than 5 minutes from now is stale; a signature is used once (``calls.py``
remembers them), so a captured request cannot be played again. ``token``: for a PBX that
can only send a fixed header, ``Authorization: Bearer <secret>``, compared in constant
time (no replay protection beyond TLS: the weaker choice, documented).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

# CTI events are small JSON documents (a transcript is the largest).
MAX_BODY_BYTES = 256 * 1024
TIMESTAMP_WINDOW_SECONDS = 300
AUTH_MODES = ("hmac", "token")
SIGNATURE_HEADER = "X-OmniCX-Signature"
TIMESTAMP_HEADER = "X-OmniCX-Timestamp"


class WebhookRefused(Exception):
    """The request does not prove it comes from the channel's PBX (``reason``:
    ``unsigned``, ``forged``, ``stale``, ``replayed``); audited, nothing is kept."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def signature_of(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-OmniCX-Signature`` value a PBX sends for ``body`` at ``timestamp``."""
    signed = timestamp.encode("ascii") + b"." + body
    return "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def check_request(
    auth: str, secret: str, headers: Mapping[str, str], body: bytes, now: float
) -> str | None:
    """Refuse (``WebhookRefused``) a request the channel's secret does not vouch for;
    returns the signature to remember (``hmac``), None for a bearer token."""
    if not secret:
        raise WebhookRefused("forged")
    if auth == "token":
        given = headers.get("authorization") or ""
        scheme, _, token = given.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise WebhookRefused("unsigned")
        if not hmac.compare_digest(token.strip().encode(), secret.encode()):
            raise WebhookRefused("forged")
        return None
    signature = (headers.get(SIGNATURE_HEADER.lower()) or "").strip()
    timestamp = (headers.get(TIMESTAMP_HEADER.lower()) or "").strip()
    if not signature or not timestamp:
        raise WebhookRefused("unsigned")
    if not timestamp.isdigit() or len(timestamp) > 12:
        raise WebhookRefused("forged")
    expected = signature_of(secret, timestamp, body)
    if not hmac.compare_digest(signature.encode(), expected.encode()):
        raise WebhookRefused("forged")
    # Checked after the signature: an attacker learns nothing from a stale answer.
    if abs(now - int(timestamp)) > TIMESTAMP_WINDOW_SECONDS:
        raise WebhookRefused("stale")
    return signature
