"""What a file is, from its bytes: the sender's name and declared type are not trusted.

Binary formats are recognised by their signatures (the ``filetype`` library: images,
audio, video, PDF, Office and OpenDocument files, archives, executables). What has no
signature is plain text only if it reads as UTF-8 or GB18030 (what Chinese Windows
writes) without control characters; anything else is unknown and refused.
"""

from __future__ import annotations

import mimetypes
import re

import filetype

# C0 controls other than tab, line feed, form feed and carriage return; and DEL.
CONTROL = re.compile(rb"[\x00-\x08\x0b\x0e-\x1f\x7f]")
TEXT = "text/plain"
# A text file keeps only these endings: ``run.bat`` that is text is saved as
# ``run.bat.txt``, so that opening it never runs it.
TEXT_EXTENSIONS = frozenset({"txt", "text", "csv", "log", "md"})


def detect_type(data: bytes) -> str | None:
    """The content type the bytes show (``text/plain; charset=…`` for text), or None."""
    kind = filetype.guess(data)
    if kind is not None:
        return str(kind.mime)
    if CONTROL.search(data):
        return None
    for charset in ("utf-8", "gb18030"):
        try:
            data.decode(charset)
        except UnicodeDecodeError:
            continue
        return f"{TEXT}; charset={charset}"
    return None


def base_type(content_type: str) -> str:
    """``text/plain`` of ``text/plain; charset=utf-8``, lower-cased."""
    return content_type.split(";", 1)[0].strip().lower()


def allowed(content_type: str, patterns: list[str]) -> bool:
    """Whether the type is one of ``patterns`` (``audio/*`` admits every audio type)."""
    base = base_type(content_type)
    for pattern in patterns:
        pattern = pattern.strip().lower()
        if pattern == base or (pattern.endswith("/*") and base.startswith(pattern[:-1])):
            return True
    return False


def extensions_of(content_type: str) -> set[str]:
    """The file name endings that fit this type (without the dot)."""
    base = base_type(content_type)
    if base == TEXT:
        return set(TEXT_EXTENSIONS)
    found = {e.lstrip(".") for e in mimetypes.guess_all_extensions(base, strict=False)}
    kind = filetype.get_type(mime=base)
    if kind is not None:
        found.add(str(kind.extension))
    return {e.lower() for e in found}


def named_for(name: str, content_type: str) -> str:
    """``name`` with an ending that fits what the file is: a ``.png`` that is a PDF is
    offered as ``….png.pdf``, so that what opens it is chosen by its content."""
    fitting = extensions_of(content_type)
    _, dot, extension = name.rpartition(".")
    if (dot and extension.lower() in fitting) or not fitting:
        return name
    preferred = "txt" if base_type(content_type) == TEXT else None
    kind = filetype.get_type(mime=base_type(content_type))
    preferred = preferred or (str(kind.extension) if kind is not None else sorted(fitting)[0])
    return f"{name}.{preferred}"
