"""Creating sources and recognising their write keys."""

from __future__ import annotations

import re
import threading
import time

from sqlalchemy import select
from sqlalchemy.orm import Session

from omnicx.core.database import Database
from omnicx.core.errors import Conflict, InvalidInput, Unauthenticated
from omnicx.core.time import utcnow
from omnicx.governance.secrets import new_token, token_digest
from omnicx.ingest.models import Source

SOURCE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,99}$")
CACHE_SECONDS = 30.0


def create_source(session: Session, name: str, kind: str = "segment") -> tuple[Source, str]:
    """Create a source; returns it and its write key (shown once, stored hashed)."""
    if not SOURCE_NAME.match(name):
        raise InvalidInput("a source name is 1-100 letters, digits, space, _ . -", field="name")
    if session.scalar(select(Source.id).where(Source.name == name)) is not None:
        raise Conflict(f"a source named {name!r} exists", field="name")
    key = new_token("wk")
    source = Source(
        name=name,
        kind=kind,
        write_key_hash=token_digest(key),
        write_key_prefix=key[:8],
        created_at=utcnow(),
    )
    session.add(source)
    session.flush()
    return source, key


def ensure_source(session: Session, name: str, kind: str = "internal") -> Source:
    """The source for events OmniCX produces itself (imports, demo), created if missing."""
    source = session.scalar(select(Source).where(Source.name == name))
    if source is None:
        source, _ = create_source(session, name, kind)
    return source


class WriteKeys:
    """Write key → source id, cached briefly: ingest must not query for it per request."""

    def __init__(self, database: Database):
        self.database = database
        self._cache: dict[str, tuple[int | None, float]] = {}
        self._lock = threading.Lock()

    def source_id(self, write_key: str) -> int:
        digest = token_digest(write_key)
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(digest)
        if cached is None or cached[1] < now:
            with self.database.read() as session:
                row = session.execute(
                    select(Source.id, Source.disabled_at).where(Source.write_key_hash == digest)
                ).first()
            source_id = row.id if row is not None and row.disabled_at is None else None
            cached = (source_id, now + CACHE_SECONDS)
            with self._lock:
                if len(self._cache) > 10_000:
                    self._cache.clear()
                self._cache[digest] = cached
        if cached[0] is None:
            raise Unauthenticated("the write key is not valid", field="writeKey")
        return cached[0]
