"""JSON encoding for payloads stored in the log and sent on the wire (orjson: fast, strict)."""

from __future__ import annotations

from typing import Any

import orjson


def dumps(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def dump_bytes(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)


def loads(value: str | bytes) -> Any:
    return orjson.loads(value)
