"""Download links for the files of a visitor's thread.

A link is signed by the server (HMAC with the instance's secret key) and expires; links
are only put in the frames of the thread a file belongs to (its history and live lines),
so holding one is the right to that file, and a visitor cannot reach another's files by
counting ids. A plain link, so the browser's own download works without script.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any

# A link outlives a long chat; a widget that connects again gets fresh ones.
LINK_SECONDS = 24 * 3600
PATH = "/widget/attachments/"


def _signature(key: str, attachment_id: int, expires: int) -> str:
    message = f"webchat-attachment:{attachment_id}:{expires}".encode()
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()[:32]


def attachment_link(key: str, attachment_id: int, now: float | None = None) -> str:
    """A relative link (the widget resolves it against the server it came from)."""
    expires = int((time.time() if now is None else now) + LINK_SECONDS)
    signature = _signature(key, attachment_id, expires)
    return f"{PATH}{attachment_id}?expires={expires}&signature={signature}"


def link_valid(key: str, attachment_id: int, expires: int, signature: str) -> bool:
    """Whether this server made the link for this file and it has not expired."""
    if expires < time.time():
        return False
    return hmac.compare_digest(_signature(key, attachment_id, expires), signature)


def with_links(frame: dict[str, Any], key: str) -> dict[str, Any]:
    """A transcript frame whose files carry their download links."""
    files = frame.get("attachments") or []
    if files:
        frame["attachments"] = [{**f, "url": attachment_link(key, int(f["id"]))} for f in files]
    return frame
