"""The optional second factor: time-based one-time codes (RFC 6238, as authenticator apps do).

The shared secret is stored encrypted (the ``users.totp_secret`` column type, with the
purpose below, so key rotation re-encrypts it like every other column); the QR code
that carries it to the phone is drawn on the server as SVG, so it never leaves for a
third-party service.
"""

from __future__ import annotations

import hmac
from datetime import UTC, datetime

import pyotp
import segno

ISSUER = "OmniCX"
PURPOSE = "users.totp_secret"
# A code from the previous or next 30-second step is accepted too: phone clocks drift.
VALID_WINDOW = 1


def new_secret() -> str:
    """A random 160-bit base32 secret (what authenticator apps expect)."""
    return pyotp.random_base32(32)


def provisioning_uri(secret: str, email: str) -> str:
    """The ``otpauth://`` URI an authenticator app imports (also what the QR code holds)."""
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=ISSUER)


def qr_svg(uri: str) -> str:
    """The URI as an inline SVG QR code (no image service, no script)."""
    return str(segno.make(uri, error="m").svg_inline(scale=4, border=2))


def code_matches(secret: str, code: str) -> bool:
    """Whether ``code`` (six digits; spaces allowed, as apps show "123 456") is current."""
    return accepted_step(secret, code, used_up_to=None) is not None


def accepted_step(secret: str, code: str, used_up_to: int | None) -> int | None:
    """The time step ``code`` belongs to, if it is current and later than ``used_up_to``
    (the step of the last code accepted): a code, once used, cannot sign in again even
    inside its window — someone who saw it over a shoulder comes too late."""
    digits = "".join(code.split())
    if len(digits) != 6 or not digits.isdigit():
        return None
    generator = pyotp.TOTP(secret)
    now = generator.timecode(datetime.now(UTC))
    for step in range(now - VALID_WINDOW, now + VALID_WINDOW + 1):
        if used_up_to is not None and step <= used_up_to:
            continue
        if hmac.compare_digest(generator.generate_otp(step), digits):
            return step
    return None
