"""The keyed blind index: identifiers are looked up by HMAC of their normalised value.

Lookups never need the stored value, so the value column can be encrypted without
changing any query. The key comes from ``OMNICX_BLIND_INDEX_KEY``.

Free text (names, message text) is searched the same private way: it is cut into terms
(``searchable_terms``) and only the keyed hash of each term is stored, so a term can be
looked up but not read back. Latin-script text gives its words ("Zhang Wei" → zhang,
wei); Chinese, written without spaces, gives its pairs of adjacent characters (欧阳娜娜 →
欧阳, 阳娜, 娜娜), so that any two or more consecutive characters find it. Single
characters and single letters are not indexed: a surname or a particle alone matches a
large share of rows, and its hash would be easy to tell by its frequency.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from functools import lru_cache

from omnicx.core.settings import get_settings

DIGEST_BYTES = 20
HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
# A run of Han characters, or a run of other letters and digits.
WORDS = re.compile(f"[{HAN}]+|[^\\W{HAN}_]+")
HAN_RUN = re.compile(f"[{HAN}]+")


@lru_cache(maxsize=4)
def _key(secret: str) -> bytes:
    return hashlib.sha256(b"omnicx-blind-index:" + secret.encode()).digest()


def blind_index(kind: str, scope: str, value: str) -> bytes:
    """HMAC-SHA256 of ``kind|scope|value``, truncated to 160 bits."""
    key = _key(get_settings().blind_index_key.get_secret_value())
    message = f"{kind}\x1f{scope}\x1f{value}".encode()
    return hmac.new(key, message, hashlib.sha256).digest()[:DIGEST_BYTES]


def searchable_terms(text: str, limit: int) -> list[str]:
    """The searchable terms of a text or a query (NFKC, case-folded), in order, without
    repeats, at most ``limit`` of them (a longer text is indexed by its first terms)."""
    found: dict[str, None] = {}
    for word in WORDS.findall(unicodedata.normalize("NFKC", text).casefold()):
        if HAN_RUN.fullmatch(word):
            for i in range(len(word) - 1):
                found[word[i : i + 2]] = None
        elif len(word) > 1 or word.isdigit():
            found[word] = None
        if len(found) >= limit:
            break
    return list(found)[:limit]


def term_hashes(kind: str, text: str, limit: int) -> list[bytes]:
    """The keyed hashes of ``text``'s searchable terms; ``kind`` keeps one index's hashes
    apart from another's (a name's term and a message's never share a hash)."""
    return [blind_index(kind, "", term) for term in searchable_terms(text, limit)]
