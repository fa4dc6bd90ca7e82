"""The content of a message's attachment, from the channel that holds it (the desk asks
here; it does not know the providers)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from omnicx.channels.wechat.media import fetch_media
from omnicx.core.database import Database
from omnicx.core.errors import NotFound

Fetcher = Callable[[Database, Mapping[str, Any]], tuple[bytes, str]]
# By the attachment's ``provider``: who keeps the bytes of what its followers sent.
FETCHERS: dict[str, Fetcher] = {"wechat": fetch_media}


def attachment_content(database: Database, attachment: Mapping[str, Any]) -> tuple[bytes, str]:
    """The bytes and content type of an attachment (``NotFound`` if no channel has them:
    a location, a link, an attachment of a channel that keeps no media)."""
    fetch = FETCHERS.get(str(attachment.get("provider") or ""))
    if fetch is None:
        raise NotFound("this attachment has no content to fetch", field="attachment")
    return fetch(database, attachment)
