"""Where channels keep the files people send them (a visitor's upload, WeChat media).

Channels hand over bytes with the name and type the sender declared, and get back what
was stored: the same limits, type detection and encryption as an agent's upload. The
store is the desk's (``desk.attachments``), which channels must not import: it
implements ``MediaStore`` and ``runtime.media`` puts it here (``use_store``), as
``runtime.privacy`` wires the privacy handlers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.orm import Session

from omnicx.core.errors import ServiceUnavailable


@dataclass(frozen=True, slots=True)
class StoredMedia:
    """A stored file as messages name it: ``{"id", "name", "type", "size"}``."""

    id: int
    name: str
    content_type: str
    size: int

    def metadata(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "type": self.content_type, "size": self.size}


def media_list(value: object) -> list[StoredMedia]:
    """The files a message payload names (``[{"id", "name", "type", "size"}]``);
    ``ValueError`` if it is not such a list."""
    if value in (None, []):
        return []
    if not isinstance(value, list):
        raise ValueError("attachments must be a list")
    found = []
    for item in value:
        if not isinstance(item, dict):
            raise ValueError("each attachment is an object")
        media_id, size = item.get("id"), item.get("size")
        name, content_type = item.get("name"), item.get("type")
        if not isinstance(media_id, int) or not isinstance(size, int):
            raise ValueError("an attachment's id and size are integers")
        if not isinstance(name, str) or not isinstance(content_type, str):
            raise ValueError("an attachment's name and type are text")
        found.append(StoredMedia(media_id, name[:255], content_type[:100], size))
    return found


@dataclass(frozen=True, slots=True)
class MediaContent:
    media: StoredMedia
    data: bytes


class MediaStore(Protocol):
    def store(
        self,
        session: Session,
        data: bytes,
        *,
        name: str,
        declared_type: str,
        channel: str,
        thread: str,
        message_id: str,
    ) -> StoredMedia:
        """Keep a file that came with the channel's message ``message_id`` (in the
        caller's transaction). Idempotent by (channel, message id, the bytes): a
        retried message gets each file stored the first time. Raises ``PayloadTooLarge``,
        ``UnsupportedMediaType`` or ``InvalidInput``."""

    def read(self, session: Session, media_id: int) -> MediaContent:
        """The file and its bytes; ``NotFound`` if there is none (or it was erased)."""


class _Wiring:
    store: MediaStore | None = None


_wiring = _Wiring()


def use_store(store: MediaStore) -> None:
    """Set the store channels keep files in (``runtime.media.wire``; idempotent)."""
    _wiring.store = store


def media_store() -> MediaStore:
    if _wiring.store is None:
        raise ServiceUnavailable("no file store is configured in this process")
    return _wiring.store
