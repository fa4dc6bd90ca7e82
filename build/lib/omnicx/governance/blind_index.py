"""The keyed blind index: identifiers are looked up by HMAC of their normalised value.

Lookups never need the stored value, so the value column can be encrypted without
changing any query. The key comes from ``OMNICX_BLIND_INDEX_KEY``.
"""

from __future__ import annotations

import hashlib
import hmac
from functools import lru_cache

from omnicx.core.settings import get_settings

DIGEST_BYTES = 20


@lru_cache(maxsize=4)
def _key(secret: str) -> bytes:
    return hashlib.sha256(b"omnicx-blind-index:" + secret.encode()).digest()


def blind_index(kind: str, scope: str, value: str) -> bytes:
    """HMAC-SHA256 of ``kind|scope|value``, truncated to 160 bits."""
    key = _key(get_settings().blind_index_key.get_secret_value())
    message = f"{kind}\x1f{scope}\x1f{value}".encode()
    return hmac.new(key, message, hashlib.sha256).digest()[:DIGEST_BYTES]
