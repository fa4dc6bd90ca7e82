"""Encryption of PII at rest: AES-256-GCM with named keys, so keys can rotate.

A core primitive because the event log (core) stores payloads encrypted; which columns
are encrypted and how keys rotate is governance's business (``governance.keys``).

``OMNICX_ENCRYPTION_KEYS`` lists keys as ``id:base64url-32-bytes`` separated by commas;
the first one encrypts, all of them decrypt. A stored value reads
``v1.<key id>.<base64url(nonce || ciphertext+tag)>``. Each column encrypts with its own
associated data (its "purpose", e.g. ``identifiers.value``), so a ciphertext copied into
another column does not decrypt. Lookups never need the plaintext: they use the blind
index (``blind_index.py``).
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Text
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from omnicx.core.serialization import dump_bytes, loads
from omnicx.core.settings import get_settings

VERSION = "v1"
NONCE_BYTES = 12


class KeyError_(ValueError):
    """A key ring setting that cannot be used (the message says why)."""


class UndecryptableValue(ValueError):
    """A stored value that no key of the ring opens (wrong key, or tampered)."""


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class KeyRing:
    """Named AES-256 keys; ``active`` encrypts."""

    keys: dict[str, AESGCM]
    active: str

    @classmethod
    def parse(cls, spec: str) -> KeyRing:
        keys: dict[str, AESGCM] = {}
        order: list[str] = []
        for item in (part.strip() for part in spec.split(",")):
            if not item:
                continue
            key_id, sep, encoded = item.partition(":")
            if not sep or not key_id.isalnum() or len(key_id) > 16:
                raise KeyError_("each key is id:base64url-key with a short alphanumeric id")
            try:
                raw = _b64decode(encoded)
            except ValueError as exc:
                raise KeyError_(f"key {key_id!r} is not base64url") from exc
            if len(raw) != 32:
                raise KeyError_(f"key {key_id!r} must be 32 bytes (AES-256), not {len(raw)}")
            if key_id in keys:
                raise KeyError_(f"key id {key_id!r} appears twice")
            keys[key_id] = AESGCM(raw)
            order.append(key_id)
        if not order:
            raise KeyError_("no encryption key configured")
        return cls(keys=keys, active=order[0])

    @property
    def active_prefix(self) -> str:
        """How every value sealed by the active key starts (``v1.<key id>.``): key
        rotation skips the values that already do."""
        return f"{VERSION}.{self.active}."

    def encrypt(self, plaintext: bytes, purpose: str) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self.keys[self.active].encrypt(nonce, plaintext, purpose.encode())
        return f"{self.active_prefix}{_b64encode(nonce + sealed)}"

    def decrypt(self, token: str, purpose: str) -> bytes:
        try:
            version, key_id, body = token.split(".", 2)
        except ValueError as exc:
            raise UndecryptableValue("not an encrypted value") from exc
        aead = self.keys.get(key_id)
        if version != VERSION or aead is None:
            raise UndecryptableValue(f"no key {key_id!r} in the ring for this value")
        data = _b64decode(body)
        try:
            return aead.decrypt(data[:NONCE_BYTES], data[NONCE_BYTES:], purpose.encode())
        except InvalidTag as exc:
            raise UndecryptableValue("the value does not open with its key (tampered?)") from exc


def new_key() -> str:
    """A fresh random key in the setting's format (the id is for the caller to choose)."""
    return _b64encode(os.urandom(32))


@lru_cache(maxsize=4)  # every decryption asks for the ring: hash the secret once
def development_keys(secret: str) -> str:
    """The key ring used when none is configured (development only; refused in production)."""
    return "dev:" + _b64encode(hashlib.sha256(b"omnicx-dev-encryption:" + secret.encode()).digest())


@lru_cache(maxsize=4)
def _ring(spec: str) -> KeyRing:
    return KeyRing.parse(spec)


def keyring() -> KeyRing:
    settings = get_settings()
    spec = settings.encryption_keys.get_secret_value() if settings.encryption_keys else None
    return _ring(spec or development_keys(settings.secret_key.get_secret_value()))


def encrypt_text(value: str, purpose: str) -> str:
    return keyring().encrypt(value.encode(), purpose)


def decrypt_text(value: str, purpose: str) -> str:
    return keyring().decrypt(value, purpose).decode()


def encrypt_json(value: Any, purpose: str) -> str:
    return keyring().encrypt(dump_bytes(value), purpose)


def decrypt_json(value: str, purpose: str) -> Any:
    return loads(keyring().decrypt(value, purpose))


@dataclass(frozen=True)
class SealedBlob:
    """A file sealed under a key of its own (envelope encryption): ``key`` (base64url) is
    to be stored in an ``EncryptedText`` column, so the key ring seals it and rotation
    rewraps it, without rewriting megabytes; ``sealed`` is nonce || ciphertext+tag."""

    key: str
    sealed: bytes


def seal_blob(data: bytes, purpose: str) -> SealedBlob:
    """Encrypt ``data`` with a fresh AES-256-GCM key (``purpose`` is the associated data)."""
    key = AESGCM.generate_key(bit_length=256)
    nonce = os.urandom(NONCE_BYTES)
    return SealedBlob(_b64encode(key), nonce + AESGCM(key).encrypt(nonce, data, purpose.encode()))


def open_blob(key: str, sealed: bytes, purpose: str) -> bytes:
    """The plaintext of a ``seal_blob`` result; ``UndecryptableValue`` if it was tampered."""
    try:
        aead = AESGCM(_b64decode(key))
        return aead.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], purpose.encode())
    except (InvalidTag, ValueError) as exc:
        raise UndecryptableValue("the file does not open with its key (tampered?)") from exc


class EncryptedText(TypeDecorator[str]):
    """A text column stored encrypted; reads and writes see plaintext."""

    impl = Text
    cache_ok = True

    def __init__(self, purpose: str):
        super().__init__()
        self.purpose = purpose

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else encrypt_text(str(value), self.purpose)

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else decrypt_text(value, self.purpose)
