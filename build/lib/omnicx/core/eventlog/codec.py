"""How an event's payload is stored: canonical JSON, encrypted (it carries PII).

Every path that writes or reads ``events.payload`` (the table log, the JetStream
messages, the timeline read, erasure) goes through these two functions.
"""

from __future__ import annotations

from typing import Any

from omnicx.core.crypto import decrypt_json, encrypt_json

PURPOSE = "events.payload"


def encode_payload(payload: dict[str, Any]) -> str:
    return encrypt_json(payload, PURPOSE)


def decode_payload(stored: str) -> dict[str, Any]:
    value = decrypt_json(stored, PURPOSE)
    return value if isinstance(value, dict) else {}
