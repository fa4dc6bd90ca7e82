"""IMAP polling: mail that reaches a mailbox at its provider (no MX of ours), fetched
from the INBOX and taken as the SMTP listener takes it.

The folder is opened read-only and read with ``BODY.PEEK[]``: nothing is marked read,
moved or deleted, so people may keep using the mailbox. What was taken is remembered
per channel as (UIDVALIDITY, last UID), written after each mail: a poll goes on from the
next UID, and a changed UIDVALIDITY (the server renumbered the folder) reads the folder
again, where the Message-IDs make what was taken a no-op. Between polls the connection
waits with IDLE when the server offers it (new mail is taken at once), else it sleeps.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from imapclient import IMAPClient
from sqlalchemy import select

from omnicx.channels.email.inbound import take_mail
from omnicx.channels.email.models import ImapPosition
from omnicx.channels.models import Channel
from omnicx.channels.service import ChannelView, channel_by_id, settings_of
from omnicx.core.database import Database
from omnicx.core.errors import InvalidInput
from omnicx.core.eventlog.base import EventLog
from omnicx.core.time import utcnow

log = logging.getLogger(__name__)
FOLDER = "INBOX"
FETCH_BATCH = 50
TIMEOUT_SECONDS = 60
T = TypeVar("T")


def polled_channels(database: Database) -> list[int]:
    """The enabled email channels with an IMAP server."""
    with database.read() as session:
        rows = session.scalars(select(Channel).where(Channel.kind == "email", Channel.enabled))
        return [c.id for c in rows if settings_of(c).get("imap_host")]


def _position(database: Database, channel_id: int) -> tuple[int, int] | None:
    with database.read() as session:
        row = session.get(ImapPosition, channel_id)
        return (row.uidvalidity, row.last_uid) if row is not None else None


def _advance(database: Database, channel_id: int, uidvalidity: int, uid: int) -> None:
    with database.write() as session:
        row = session.get(ImapPosition, channel_id)
        if row is None:
            session.add(ImapPosition(channel_id=channel_id, uidvalidity=uidvalidity,
                                     last_uid=uid, updated_at=utcnow()))  # fmt: skip
        else:
            row.uidvalidity, row.last_uid, row.updated_at = uidvalidity, uid, utcnow()


def connect(channel: ChannelView) -> IMAPClient:
    """A logged-in connection to the channel's IMAP server (TLS as configured)."""
    settings = channel.settings
    use_ssl = bool(settings.get("imap_ssl"))
    client = IMAPClient(
        str(settings["imap_host"]),
        port=int(settings.get("imap_port") or (993 if use_ssl else 143)),
        ssl=use_ssl,
        ssl_context=ssl.create_default_context() if use_ssl else None,
        timeout=TIMEOUT_SECONDS,
    )
    try:
        client.login(str(settings.get("imap_user") or settings["address"]),
                     channel.secrets.get("imap_password", ""))  # fmt: skip
    except Exception:
        client.shutdown()
        raise
    return client


class MailboxPoller:
    """Polls one mailbox channel. The IMAP calls block: they run in a thread, and mail is
    appended on the event loop that owns ``event_log``."""

    def __init__(
        self,
        event_log: EventLog,
        database: Database,
        channel_id: int,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.event_log, self.database = event_log, database
        self.channel_id, self.loop = channel_id, loop

    def _on_loop(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    def poll(self, client: IMAPClient, channel: ChannelView) -> int:
        """Take the mail that came since the last poll; how many mails were read."""
        selected = client.select_folder(FOLDER, readonly=True)
        uidvalidity = int(selected[b"UIDVALIDITY"])
        known = _position(self.database, channel.id)
        last = known[1] if known is not None and known[0] == uidvalidity else 0
        if known is not None and known[0] != uidvalidity:
            log.info("email channel %s: UIDVALIDITY changed, reading the folder again", channel.id)
        # "n:*" always names the newest message, even when it is below n: filter.
        uids = sorted(u for u in client.search(["UID", f"{last + 1}:*"]) if u > last)
        for start in range(0, len(uids), FETCH_BATCH):
            batch = uids[start : start + FETCH_BATCH]
            fetched = client.fetch(batch, ["BODY.PEEK[]"])
            for uid in batch:
                data = fetched.get(uid, {}).get(b"BODY[]")
                if isinstance(data, bytes):
                    try:
                        self._on_loop(take_mail(self.event_log, self.database, channel, data))
                    except InvalidInput as exc:  # retrying cannot help: say which mail
                        log.error("email channel %s: IMAP UID %s not taken: %s (%s)",
                                  channel.id, uid, exc.message, exc.field)  # fmt: skip
                _advance(self.database, channel.id, uidvalidity, uid)
        return len(uids)

    def run(self, stop: threading.Event, interval: float) -> None:
        """Poll until ``stop``: IDLE between polls where offered (at most ``interval``
        seconds per wait), else sleep; a failure is logged and retried after a wait."""
        while not stop.is_set():
            try:
                with self.database.read() as session:
                    channel = channel_by_id(session, self.channel_id)
                client = connect(channel)
                try:
                    while not stop.is_set():
                        self.poll(client, channel)
                        self._wait(client, stop, interval)
                finally:
                    client.logout()
            except Exception:
                log.exception("email channel %s: IMAP polling failed", self.channel_id)
                stop.wait(interval)

    @staticmethod
    def _wait(client: IMAPClient, stop: threading.Event, interval: float) -> None:
        if b"IDLE" not in client.capabilities():
            stop.wait(interval)
            return
        client.idle()
        try:
            waited = 0.0
            # Short IDLE checks, so that a stop request is seen within a second.
            while not stop.is_set() and waited < interval:
                if client.idle_check(timeout=1):
                    return
                waited += 1
        finally:
            client.idle_done()


async def poll_once(event_log: EventLog, database: Database, channel_id: int) -> int:
    """Poll one mailbox once (``omnicx channels imap --once``); mails read."""
    poller = MailboxPoller(event_log, database, channel_id, asyncio.get_running_loop())

    def run() -> int:
        with database.read() as session:
            channel = channel_by_id(session, channel_id)
        client = connect(channel)
        try:
            return poller.poll(client, channel)
        finally:
            client.logout()

    return await asyncio.to_thread(run)
