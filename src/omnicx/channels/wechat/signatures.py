"""Proving a callback comes from WeChat: the signature over the channel's token, the
timestamp and the nonce, the timestamp's window and, in the compatible and safe modes,
the message signature over the encrypted body (then decrypted with the AES key).

In plaintext mode the signature does not cover the body, so a captured URL could carry
another message: the callback records each (timestamp, nonce) and refuses it with a
different message (``callbacks.record_callback``). A channel that has an AES key accepts
only encrypted bodies, whose signature does cover them.

Signatures and decryption are wechatpy's (``WeChatSigner``, ``PrpCrypto``); the
comparison is constant-time.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import xmltodict
from wechatpy.crypto import PrpCrypto
from wechatpy.exceptions import InvalidAppIdException
from wechatpy.utils import WeChatSigner

# WeChat signs with the current time; a callback older or newer than this is refused.
TIMESTAMP_WINDOW_SECONDS = 300
MAX_NONCE_CHARS = 64
MAX_BODY_BYTES = 64 * 1024
DIGITS = re.compile(r"^[0-9]{1,12}$")
NONCE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class CallbackRefused(Exception):
    """Not WeChat, or not now: ``reason`` names which (``forged``, ``stale``, ...)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class CallbackUnreadable(Exception):
    """A signed callback whose body cannot be read (``reason`` says why)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class SignedQuery:
    """The signature parameters WeChat adds to the callback URL."""

    signature: str
    timestamp: int
    nonce: str
    encrypted: bool
    msg_signature: str


def sign(*parts: str) -> str:
    """WeChat's signature: SHA-1 of the sorted, concatenated parts."""
    signer = WeChatSigner()
    signer.add_data(*parts)
    return str(signer.signature)


def _same(expected: str, claimed: str) -> bool:
    return hmac.compare_digest(expected.encode(), claimed.strip().lower().encode())


def signed_query(params: Mapping[str, str], now: float) -> SignedQuery:
    """The signature parameters, checked for shape and the timestamp's window (before
    any signature is computed: a malformed or stale request costs nothing)."""
    signature, timestamp, nonce = (params.get(k) or "" for k in ("signature", "timestamp", "nonce"))
    if not signature or not DIGITS.match(timestamp) or not NONCE.match(nonce):
        raise CallbackRefused("unsigned")
    if abs(now - int(timestamp)) > TIMESTAMP_WINDOW_SECONDS:
        raise CallbackRefused("stale")
    return SignedQuery(
        signature=signature,
        timestamp=int(timestamp),
        nonce=nonce,
        encrypted=(params.get("encrypt_type") or "").lower() == "aes",
        msg_signature=params.get("msg_signature") or "",
    )


def check_url_signature(token: str, query: SignedQuery) -> None:
    """The signature of every callback (and of the console's URL check)."""
    if not _same(sign(token, str(query.timestamp), query.nonce), query.signature):
        raise CallbackRefused("forged")


def check_xml(body: bytes) -> None:
    """Refuse what WeChat never sends before any parser sees it: a body over 64 KB, a
    DOCTYPE or an entity (so no entity is ever expanded)."""
    if len(body) > MAX_BODY_BYTES:
        raise CallbackUnreadable("too_large")
    upper = body.upper()
    if b"<!DOCTYPE" in upper or b"<!ENTITY" in upper:
        raise CallbackUnreadable("doctype")


def read_xml(body: bytes) -> dict[str, Any]:
    """The ``<xml>`` element of a body, as a dict (``check_xml`` first)."""
    check_xml(body)
    try:
        parsed = xmltodict.parse(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, xmltodict.expat.ExpatError) as exc:
        raise CallbackUnreadable("malformed_xml") from exc
    root = parsed.get("xml") if isinstance(parsed, dict) else None
    if not isinstance(root, dict):
        raise CallbackUnreadable("malformed_xml")
    return root


def aes_key_bytes(aes_key: str) -> bytes:
    """The 32-byte key of an EncodingAESKey (43 base64 characters); ValueError if not."""
    try:
        key = base64.b64decode(aes_key + "=", validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not base64") from exc
    if len(aes_key) != 43 or len(key) != 32:
        raise ValueError("an EncodingAESKey is 43 characters")
    return key


def open_body(
    body: bytes, query: SignedQuery, *, token: str, app_id: str, aes_key: str | None
) -> str:
    """The callback's message XML: the body itself in plaintext mode, or its ``Encrypt``
    element once the message signature is checked and it is decrypted for ``app_id``."""
    if aes_key is None:
        if query.encrypted:
            raise CallbackRefused("no_aes_key")
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CallbackUnreadable("malformed_xml") from exc
    if not query.encrypted:
        raise CallbackRefused("plaintext_refused")
    encrypt = read_xml(body).get("Encrypt")
    if not isinstance(encrypt, str) or not encrypt:
        raise CallbackUnreadable("no_encrypt")
    expected = sign(token, str(query.timestamp), query.nonce, encrypt)
    if not query.msg_signature or not _same(expected, query.msg_signature):
        raise CallbackRefused("forged")
    try:
        return str(PrpCrypto(aes_key_bytes(aes_key)).decrypt(encrypt, app_id))
    except InvalidAppIdException as exc:
        raise CallbackRefused("wrong_app") from exc
    except (ValueError, IndexError, struct.error, binascii.Error, UnicodeDecodeError) as exc:
        raise CallbackUnreadable("undecryptable") from exc
