"""Decoding the text of real-world mail: declared charsets that lie (gb2312 that holds
GBK characters), headers in RFC 2047 encoded words, and raw 8-bit headers."""

from __future__ import annotations

import codecs
import re
from email.header import decode_header

# Mail labelled with a narrow Chinese charset often holds characters of its superset
# (Outlook and Foxmail label GBK text "gb2312"); decoding with the superset reads both.
SUPERSETS = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "cp936": "gb18030",
    "euc-cn": "gb18030",
    "big5": "big5hkscs",
    "x-big5": "big5hkscs",
    "cp950": "big5hkscs",
    "ks_c_5601-1987": "cp949",
    "us-ascii": "utf-8",  # mislabelled 8-bit text is more often UTF-8 than anything else
    "ascii": "utf-8",
}
FOLD = re.compile(r"\r?\n(?=[ \t])")


def codec_for(charset: str | None) -> str | None:
    """The codec to read text labelled ``charset`` with, or None if Python has none."""
    if not charset:
        return None
    name = charset.strip().strip('"').lower()
    name = SUPERSETS.get(name, name)
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def decode_text(data: bytes, charset: str | None) -> str:
    """Bytes as text: the declared charset (widened to its superset), else UTF-8, else
    GB18030 (the usual undeclared Chinese mail), else Latin-1 (never fails)."""
    tried = [c for c in (codec_for(charset), "utf-8", "gb18030") if c]
    for codec in dict.fromkeys(tried):
        try:
            return data.decode(codec)
        except UnicodeDecodeError:
            continue
    declared = codec_for(charset)
    return data.decode(declared or "latin-1", errors="replace")


def _undo_surrogates(value: str) -> str:
    """A raw 8-bit header (read with surrogate escapes) as text."""
    try:
        value.encode("utf-8")
        return value
    except UnicodeEncodeError:
        return decode_text(value.encode("ascii", "surrogateescape"), None)


def decode_header_value(value: str | None) -> str:
    """A header's text: unfolded, encoded words (``=?GB2312?B?…?=``) decoded with the
    widened charsets, raw 8-bit bytes read as UTF-8 or GB18030."""
    if not value:
        return ""
    text = _undo_surrogates(FOLD.sub("", str(value)))
    try:
        pieces = decode_header(text)
    except Exception:  # a malformed encoded word: keep what was written
        return text.strip()
    out = []
    for piece, charset in pieces:
        if isinstance(piece, str):
            out.append(piece)
        else:
            out.append(
                decode_text(piece, charset) if charset else piece.decode("raw-unicode-escape")
            )
    return "".join(out).strip()
