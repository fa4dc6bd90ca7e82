"""The production log's transport: a NATS JetStream stream with file storage.

An event is acknowledged to the sender only after JetStream's PubAck, i.e. once the
stream has stored it. Workers move messages into the events table
(``processing.transport``) and ack them once committed; the stream then drops them
(work-queue retention). ``Nats-Msg-Id`` lets JetStream drop retries inside its duplicate
window; beyond it, the unique ``(source_id, message_id)`` of the events table makes the
worker's insert a no-op, so a late retry still does nothing twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any

import nats
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import APIError, NotFoundError

from omnicx.core.database import get_database
from omnicx.core.errors import ServiceUnavailable
from omnicx.core.eventlog.base import LogEvent, Record
from omnicx.core.eventlog.codec import encode_payload
from omnicx.core.eventlog.table import StoredRow
from omnicx.core.i18n import msg
from omnicx.core.serialization import dump_bytes, loads
from omnicx.core.time import parse_timestamp

log = logging.getLogger(__name__)

SUBJECT_PREFIX = "omnicx.events"
DUPLICATE_WINDOW_SECONDS = 24 * 3600
WORKER_DURABLE = "omnicx-workers"
CONNECT_TIMEOUT_SECONDS = 2
# A dropped connection is retried 3 times this far apart, then closed; the next use
# reconnects. A first connection is tried as many times, so a request fails in ~2 s.
RECONNECT_WAIT_SECONDS = 0.5
RETRY_AFTER_FAILURE_SECONDS = 1.0
PUBLISH_TIMEOUT_SECONDS = 10.0
# JetStream's error code for a message that is not (or no longer) in the stream.
NO_MESSAGE_FOUND = 10057


def subject_prefix(stream: str) -> str:
    """Subjects of one stream. JetStream refuses two streams with overlapping subjects,
    so the stream name is part of them: two deployments (or test runs) can share a server.
    """
    return f"{SUBJECT_PREFIX}.{stream}"


def event_subject(stream: str, event: LogEvent) -> str:
    return f"{subject_prefix(stream)}.{event.source_id}"


def stream_filter(stream: str) -> str:
    return f"{subject_prefix(stream)}.>"


def encode_event(event: LogEvent) -> bytes:
    return dump_bytes(
        {
            "source_id": event.source_id,
            "message_id": event.message_id,
            "type": event.type,
            "name": event.name,
            "occurred_at": event.occurred_at.isoformat(),
            "received_at": event.received_at.isoformat(),
            # Encrypted like the table's column: the stream is storage too.
            "payload": encode_payload(event.payload),
        }
    )


def stored_row(data: bytes, stream_seq: int) -> StoredRow:
    """A message as the events table stores it. The payload is sealed the same way in
    both places, so it is copied as it is: a worker never decrypts what it only moves."""
    raw: dict[str, Any] = loads(data)
    return (
        int(raw["source_id"]),
        str(raw["message_id"]),
        str(raw["type"]),
        raw.get("name"),
        parse_timestamp(raw["occurred_at"]),
        parse_timestamp(raw["received_at"]),
        raw.get("payload") or encode_payload({}),
        stream_seq,
    )


class JetStreamConnection:
    """A lazily opened connection and the stream, created if missing."""

    def __init__(self, url: str, stream: str):
        self.url = url
        self.stream = stream
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._lock = asyncio.Lock()
        self._down_until = 0.0
        self._down_reason = ""

    async def jetstream(self) -> JetStreamContext:
        async with self._lock:
            if self._js is not None and self._nc is not None and not self._nc.is_closed:
                return self._js
            if time.monotonic() < self._down_until:
                # Requests queued behind a failed attempt fail at once instead of each
                # waiting for its own connection attempt.
                raise ServiceUnavailable(self._down_reason)
            await self.close()
            try:
                self._nc = await nats.connect(
                    self.url,
                    connect_timeout=CONNECT_TIMEOUT_SECONDS,
                    max_reconnect_attempts=3,
                    reconnect_time_wait=RECONNECT_WAIT_SECONDS,
                    error_cb=self._on_error,
                )
                js = self._nc.jetstream()
                await self._ensure_stream(js)
            except Exception as exc:
                # Not connected, or the stream cannot be created: the caller answers
                # 503 (the sender retries) rather than accept what is not stored.
                await self.close()
                self._down_until = time.monotonic() + RETRY_AFTER_FAILURE_SECONDS
                self._down_reason = f"event log unavailable: {exc or type(exc).__name__}"
                raise ServiceUnavailable(self._down_reason) from exc
            self._js = js
            return self._js

    async def _on_error(self, exc: Exception) -> None:
        # The client's default handler logs a traceback per failed attempt; one line is enough.
        log.warning("event log connection to %s: %s", self.url, exc or type(exc).__name__)

    async def _ensure_stream(self, js: JetStreamContext) -> None:
        try:
            info = await js.stream_info(self.stream)
        except NotFoundError:
            await js.add_stream(
                StreamConfig(
                    name=self.stream,
                    subjects=[stream_filter(self.stream)],
                    storage=StorageType.FILE,
                    duplicate_window=DUPLICATE_WINDOW_SECONDS,
                    # The stream is only the road into the events table: a message a
                    # worker has recorded and acked is removed (no second copy of
                    # personal data to erase; the duplicate window still holds).
                    retention=RetentionPolicy.WORK_QUEUE,
                )
            )
            return
        if info.config.retention != RetentionPolicy.WORK_QUEUE:
            log.warning(
                "stream %s keeps messages after they are recorded (retention %s); "
                "new streams use work-queue retention (docs/architecture.md)",
                self.stream,
                info.config.retention,
            )

    async def close(self) -> None:
        nc, self._nc, self._js = self._nc, None, None
        if nc is None or nc.is_closed:
            return
        # Not drain(): a pull subscription's drain waits for its full timeout. A flush
        # (a round trip) makes sure the acks written so far reached the server.
        try:
            await nc.flush(timeout=2)
        except Exception as exc:  # a broken connection cannot flush; it is gone anyway
            log.debug("flushing the event log connection: %s", exc)
        await nc.close()


class JetStreamEventLog:
    def __init__(self, url: str, stream: str):
        self.connection = JetStreamConnection(url, stream)

    async def append(self, events: Sequence[LogEvent]) -> None:
        js = await self.connection.jetstream()
        stream = self.connection.stream
        # One request per event, all in flight at once. Not publish_async: its reply
        # handler (nats-py 2.x) drops a stream's refusal ("maximum messages exceeded"),
        # which then surfaces only as a timeout.
        results = await asyncio.gather(
            *(
                js.publish(
                    event_subject(stream, event),
                    encode_event(event),
                    timeout=PUBLISH_TIMEOUT_SECONDS,
                    stream=stream,
                    headers={"Nats-Msg-Id": f"{event.source_id}:{event.message_id}"},
                )
                for event in events
            ),
            return_exceptions=True,
        )
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures:
            first = failures[0]
            raise ServiceUnavailable(
                msg(
                    "event log did not confirm storage of {failed} of {total} events: {reason}",
                    failed=len(failures),
                    total=len(events),
                    reason=first or type(first).__name__,
                )
            ) from first

    async def append_recorded(self, events: Sequence[LogEvent], record: Record) -> None:
        await asyncio.to_thread(_write, record)
        await self.append(events)

    async def close(self) -> None:
        await self.connection.close()


def _write(record: Record) -> None:
    """``record`` in a write transaction of this process's database."""
    with get_database().write() as session:
        record(session)


async def delete_messages(url: str, stream: str, sequences: Sequence[int]) -> tuple[int, int]:
    """Erase messages by stream sequence (an erasure's events). Returns (deleted, already
    gone). JetStream's message delete overwrites the stored message (secure erase).

    Raises ServiceUnavailable when the stream cannot be reached.
    """
    connection = JetStreamConnection(url, stream)
    deleted = missing = 0
    try:
        js = await connection.jetstream()
        for sequence in sorted(set(sequences)):
            if await _delete_one(js, stream, sequence):
                deleted += 1
            else:
                missing += 1
    finally:
        await connection.close()
    return deleted, missing


async def _delete_one(js: JetStreamContext, stream: str, sequence: int) -> bool:
    """Delete one message; False if it was not there (deleted before, or aged out)."""
    try:
        await js.delete_msg(stream, sequence)
        return True
    except APIError as exc:
        # The server answers 10057 ("no message found"), with status 500 rather than 404.
        if not isinstance(exc, NotFoundError) and exc.err_code != NO_MESSAGE_FOUND:
            raise
        return False


class JetStreamConsumer:
    """A durable pull consumer shared by every worker (each message goes to one worker)."""

    def __init__(self, url: str, stream: str, durable: str = WORKER_DURABLE):
        self.connection = JetStreamConnection(url, stream)
        self.durable = durable
        self._subscription: Any = None

    async def fetch(self, batch: int, timeout: float = 1.0) -> list[tuple[StoredRow, Msg]]:
        if self._subscription is None:
            js = await self.connection.jetstream()
            self._subscription = await js.pull_subscribe(
                stream_filter(self.connection.stream),
                durable=self.durable,
                stream=self.connection.stream,
                config=ConsumerConfig(
                    ack_policy=AckPolicy.EXPLICIT, ack_wait=60, max_ack_pending=20_000
                ),
            )
        try:
            messages = await self._subscription.fetch(batch, timeout=timeout)
        except TimeoutError:
            return []
        except nats.errors.TimeoutError:
            return []
        delivered: list[tuple[StoredRow, Msg]] = []
        for message in messages:
            try:
                delivered.append(
                    (stored_row(message.data, message.metadata.sequence.stream), message)
                )
            except Exception as exc:
                # Redelivering a message nobody can read would block its slot forever.
                log.error("dropping an undecodable event log message: %s", exc)
                await message.term()
        return delivered

    async def close(self) -> None:
        """Close the connection; the next ``fetch`` reconnects and binds again."""
        self._subscription = None
        await self.connection.close()
