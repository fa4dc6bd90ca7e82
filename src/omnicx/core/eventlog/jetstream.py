"""The production log: a NATS JetStream stream with file storage.

An event is acknowledged to the sender only after JetStream's PubAck, i.e. once the
stream has stored it. ``Nats-Msg-Id`` lets JetStream drop retries inside its duplicate
window; beyond it, the unique ``(source_id, message_id)`` of the events table makes the
worker's insert a no-op, so a late retry still does nothing twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import nats
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from omnicx.core.errors import ServiceUnavailable
from omnicx.core.eventlog.base import LogEvent
from omnicx.core.serialization import dump_bytes, loads
from omnicx.core.time import parse_timestamp

SUBJECT_PREFIX = "omnicx.events"
DUPLICATE_WINDOW_SECONDS = 24 * 3600
WORKER_DURABLE = "omnicx-workers"


def encode_event(event: LogEvent) -> bytes:
    return dump_bytes(
        {
            "source_id": event.source_id,
            "message_id": event.message_id,
            "type": event.type,
            "name": event.name,
            "occurred_at": event.occurred_at.isoformat(),
            "received_at": event.received_at.isoformat(),
            "payload": event.payload,
        }
    )


def decode_event(data: bytes) -> LogEvent:
    raw: dict[str, Any] = loads(data)
    occurred: datetime = parse_timestamp(raw["occurred_at"])
    return LogEvent(
        source_id=int(raw["source_id"]),
        message_id=str(raw["message_id"]),
        type=str(raw["type"]),
        name=raw.get("name"),
        occurred_at=occurred,
        received_at=parse_timestamp(raw["received_at"]),
        payload=raw.get("payload") or {},
    )


class JetStreamConnection:
    """A lazily opened connection and the stream, created if missing."""

    def __init__(self, url: str, stream: str):
        self.url = url
        self.stream = stream
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._lock = asyncio.Lock()

    async def jetstream(self) -> JetStreamContext:
        async with self._lock:
            if self._js is None or self._nc is None or self._nc.is_closed:
                try:
                    self._nc = await nats.connect(
                        self.url, connect_timeout=5, max_reconnect_attempts=3
                    )
                except Exception as exc:
                    raise ServiceUnavailable(f"event log unavailable: {exc}") from exc
                self._js = self._nc.jetstream()
                await self._ensure_stream(self._js)
            return self._js

    async def _ensure_stream(self, js: JetStreamContext) -> None:
        try:
            await js.stream_info(self.stream)
        except NotFoundError:
            await js.add_stream(
                StreamConfig(
                    name=self.stream,
                    subjects=[f"{SUBJECT_PREFIX}.>"],
                    storage=StorageType.FILE,
                    duplicate_window=DUPLICATE_WINDOW_SECONDS,
                )
            )

    async def close(self) -> None:
        if self._nc is not None and not self._nc.is_closed:
            await self._nc.drain()
        self._nc = None
        self._js = None


class JetStreamEventLog:
    def __init__(self, url: str, stream: str):
        self.connection = JetStreamConnection(url, stream)

    async def append(self, events: Sequence[LogEvent]) -> None:
        js = await self.connection.jetstream()
        try:
            futures = [
                await js.publish_async(
                    f"{SUBJECT_PREFIX}.{event.source_id}",
                    encode_event(event),
                    headers={"Nats-Msg-Id": f"{event.source_id}:{event.message_id}"},
                    stream=self.connection.stream,
                )
                for event in events
            ]
            await asyncio.wait_for(asyncio.gather(*futures), timeout=10)
        except Exception as exc:
            raise ServiceUnavailable(f"event log did not confirm storage: {exc}") from exc

    async def close(self) -> None:
        await self.connection.close()


class JetStreamConsumer:
    """A durable pull consumer shared by every worker (each message goes to one worker)."""

    def __init__(self, url: str, stream: str, durable: str = WORKER_DURABLE):
        self.connection = JetStreamConnection(url, stream)
        self.durable = durable
        self._subscription: Any = None

    async def fetch(self, batch: int, timeout: float = 1.0) -> list[tuple[LogEvent, Msg]]:
        if self._subscription is None:
            js = await self.connection.jetstream()
            self._subscription = await js.pull_subscribe(
                f"{SUBJECT_PREFIX}.>",
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
        return [(decode_event(m.data), m) for m in messages]

    async def close(self) -> None:
        await self.connection.close()
