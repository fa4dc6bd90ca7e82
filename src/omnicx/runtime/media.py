"""Wiring of the file store channels keep media in (``channels.media``): the desk's."""

from __future__ import annotations

from omnicx.channels.media import use_store
from omnicx.desk.attachments.channel_store import DeskMediaStore


def wire() -> None:
    """Make the desk's attachment store the channels' (idempotent)."""
    use_store(DeskMediaStore())
