"""Sources: creating them, rotating their write keys, the web origins a browser may send
from, and recognising a write key on the hot path."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from omnicx.core.database import Database
from omnicx.core.errors import Conflict, InvalidInput, NotFound, Unauthenticated
from omnicx.core.i18n import msg
from omnicx.core.serialization import dumps, loads
from omnicx.core.time import as_utc, utcnow
from omnicx.governance import audit
from omnicx.governance.secrets import new_token, token_digest
from omnicx.governance.service import SYSTEM, Principal
from omnicx.ingest.models import Source

SOURCE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,99}$")
SOURCE_KIND = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
HOST = re.compile(r"^([a-z0-9-]+\.)*[a-z0-9-]+$|^[0-9a-f:.]+$")
CACHE_SECONDS = 30.0
DEFAULT_GRACE = timedelta(hours=24)
MAX_GRACE = timedelta(days=90)
ANY_ORIGIN = "*"
_DEFAULT_PORTS = {"http": 80, "https": 443}


def normalize_origin(raw: str) -> str:
    """``https://Shop.Example.cn:443/`` → ``https://shop.example.cn``; ``*`` stays ``*``.

    An origin is what a browser sends in its ``Origin`` header: scheme, host and port only.
    """
    text = raw.strip()
    if text == ANY_ORIGIN:
        return ANY_ORIGIN
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise InvalidInput(
            msg("{raw!r} is not an origin: {exc}", raw=raw, exc=exc), field="origins"
        ) from exc
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise InvalidInput(
            msg(
                "{raw!r} is not an origin: use http(s)://host[:port], e.g. https://shop.example.cn",
                raw=raw,
            ),
            field="origins",
        )
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        raise InvalidInput(
            msg(
                "{raw!r} is not an origin: no path, query or user, only scheme://host[:port]",
                raw=raw,
            ),
            field="origins",
        )
    host = parts.hostname.lower()
    if not HOST.match(host):
        raise InvalidInput(
            msg(
                "{raw!r} is not an origin: the host must be ASCII (punycode, xn--, for "
                "international names)",
                raw=raw,
            ),
            field="origins",
        )
    if ":" in host:  # an IPv6 literal keeps its brackets in an origin
        host = f"[{host}]"
    if port is None or port == _DEFAULT_PORTS[parts.scheme]:
        return f"{parts.scheme}://{host}"
    return f"{parts.scheme}://{host}:{port}"


def normalize_origins(raw: Iterable[str]) -> list[str]:
    """Each origin normalised, duplicates dropped, order kept."""
    seen: dict[str, None] = {}
    for value in raw:
        seen.setdefault(normalize_origin(value), None)
    return list(seen)


def origins_of(source: Source) -> list[str]:
    value = loads(source.allowed_origins or "[]")
    return [str(v) for v in value] if isinstance(value, list) else []


def origin_allowed(origin: str, allowed: Iterable[str]) -> bool:
    """Whether a browser on ``origin`` may send to a source allowing ``allowed``."""
    allowed = set(allowed)
    if ANY_ORIGIN in allowed:
        return True
    try:
        return normalize_origin(origin) in allowed
    except InvalidInput:  # "null" (a file:// page, a sandboxed frame) and other junk
        return False


def source_named(session: Session, name: str) -> Source:
    """The source called ``name`` (``NotFound`` with the way to list them otherwise)."""
    source = session.scalar(select(Source).where(Source.name == name))
    if source is None:
        raise NotFound(
            msg("no source named {name!r} (omnicx sources list)", name=name), field="name"
        )
    return source


def list_sources(session: Session) -> list[Source]:
    return list(session.scalars(select(Source).order_by(Source.id)))


def create_source(
    session: Session,
    name: str,
    kind: str = "segment",
    *,
    origins: Iterable[str] = (),
    actor: Principal = SYSTEM,
) -> tuple[Source, str]:
    """Create a source (audited); returns it and its write key (shown once, stored hashed)."""
    if not SOURCE_NAME.match(name):
        raise InvalidInput("a source name is 1-100 letters, digits, space, _ . -", field="name")
    if not SOURCE_KIND.match(kind):
        raise InvalidInput("a source kind is 1-32 lower-case letters, digits, _ -", field="kind")
    allowed = normalize_origins(origins)
    if session.scalar(select(Source.id).where(Source.name == name)) is not None:
        raise Conflict(
            msg(
                "a source named {name!r} exists; for a new write key run `omnicx sources "
                "rotate-key {name}`",
                name=name,
            ),
            field="name",
        )
    key = new_token("wk")
    source = Source(
        name=name,
        kind=kind,
        write_key_hash=token_digest(key),
        write_key_prefix=key[:8],
        created_at=utcnow(),
        allowed_origins=dumps(allowed),
    )
    session.add(source)
    session.flush()
    audit.record(
        session,
        actor,
        "source.create",
        target_type="source",
        target_id=source.id,
        detail={"name": name, "kind": kind, "origins": allowed, "key_prefix": key[:8]},
    )
    return source, key


def ensure_source(session: Session, name: str, kind: str = "internal") -> Source:
    """The source for events OmniCX produces itself (imports, demo), created if missing."""
    source = session.scalar(select(Source).where(Source.name == name))
    if source is None:
        source, _ = create_source(session, name, kind)
    return source


def rotate_write_key(
    session: Session, actor: Principal, name: str, grace: timedelta = DEFAULT_GRACE
) -> tuple[Source, str]:
    """Give a source a new write key (audited); the old one works for ``grace`` more.

    A key that an earlier rotation left in its grace period stops at once: only the
    current key and the one it replaced are ever accepted.
    """
    if grace < timedelta(0) or grace > MAX_GRACE:
        raise InvalidInput(
            msg("the grace period is 0 to {hours} hours", hours=MAX_GRACE.days * 24),
            field="grace_hours",
        )
    source = source_named(session, name)
    now = utcnow()
    key = new_token("wk")
    source.previous_key_hash = source.write_key_hash
    source.previous_key_expires_at = now + grace
    source.write_key_hash = token_digest(key)
    source.write_key_prefix = key[:8]
    source.key_rotated_at = now
    session.flush()
    audit.record(
        session,
        actor,
        "source.rotate_key",
        target_type="source",
        target_id=source.id,
        detail={
            "name": name,
            "key_prefix": key[:8],
            "grace_hours": round(grace.total_seconds() / 3600, 2),
            "old_key_until": (now + grace).isoformat(),
        },
    )
    return source, key


def set_origins(session: Session, actor: Principal, name: str, origins: Iterable[str]) -> Source:
    """Replace the web origins a source accepts browser events from (audited)."""
    source = source_named(session, name)
    before = origins_of(source)
    allowed = normalize_origins(origins)
    source.allowed_origins = dumps(allowed)
    session.flush()
    audit.record(
        session,
        actor,
        "source.set_origins",
        target_type="source",
        target_id=source.id,
        detail={"name": name, "before": before, "after": allowed},
    )
    return source


def old_key_valid_until(source: Source, now: datetime | None = None) -> datetime | None:
    """When the key a rotation replaced stops working (None if there is none any more)."""
    until = source.previous_key_expires_at
    if source.previous_key_hash is None or until is None:
        return None
    until = as_utc(until)
    return until if until > (now or utcnow()) else None


@dataclass(frozen=True)
class SourceKey:
    """What ingest needs to know about the source behind a write key."""

    source_id: int
    origins: frozenset[str]


class WriteKeys:
    """Write key → source, cached briefly: ingest must not query for it per request.

    A cached answer lives 30 s at most, and never past the end of a rotated key's grace
    period; so a rotation, a new origin or a disabled source applies within 30 s.
    """

    def __init__(self, database: Database):
        self.database = database
        self._cache: dict[str, tuple[SourceKey | None, float]] = {}
        self._lock = threading.Lock()

    def source(self, write_key: str) -> SourceKey:
        digest = token_digest(write_key)
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(digest)
        if cached is None or cached[1] < now:
            cached = self._load(digest, now)
            with self._lock:
                if len(self._cache) > 10_000:
                    self._cache.clear()
                self._cache[digest] = cached
        if cached[0] is None:
            raise Unauthenticated("the write key is not valid", field="writeKey")
        return cached[0]

    def source_id(self, write_key: str) -> int:
        return self.source(write_key).source_id

    def _load(self, digest: str, now: float) -> tuple[SourceKey | None, float]:
        with self.database.read() as session:
            row = session.scalars(
                select(Source).where(
                    or_(Source.write_key_hash == digest, Source.previous_key_hash == digest)
                )
            ).first()
            if row is None or row.disabled_at is not None:
                return None, now + CACHE_SECONDS
            found = SourceKey(row.id, frozenset(origins_of(row)))
            if row.write_key_hash == digest:
                return found, now + CACHE_SECONDS
            until = old_key_valid_until(row)
        if until is None:
            return None, now + CACHE_SECONDS
        left = (until - utcnow()).total_seconds()
        return found, now + min(CACHE_SECONDS, left)


class BrowserOrigins:
    """The origins any enabled source accepts, for CORS preflights (which carry no write
    key, so cannot name their source); cached like write keys."""

    def __init__(self, database: Database):
        self.database = database
        self._allowed: frozenset[str] = frozenset()
        self._expires = 0.0
        self._lock = threading.Lock()

    def allowed(self, origin: str) -> bool:
        now = time.monotonic()
        with self._lock:
            if self._expires < now:
                with self.database.read() as session:
                    rows = session.scalars(
                        select(Source.allowed_origins).where(Source.disabled_at.is_(None))
                    ).all()
                union: set[str] = set()
                for value in rows:
                    parsed = loads(value or "[]")
                    if isinstance(parsed, list):
                        union.update(str(v) for v in parsed)
                self._allowed, self._expires = frozenset(union), now + CACHE_SECONDS
            allowed = self._allowed
        return origin_allowed(origin, allowed)


def source_names_and_kinds(
    session: Session, source_ids: Iterable[int]
) -> dict[int, tuple[str, str]]:
    """(name, kind) of each of these sources, by id; one query."""
    ids = sorted(set(source_ids))
    if not ids:
        return {}
    rows = session.execute(select(Source.id, Source.name, Source.kind).where(Source.id.in_(ids)))
    return {int(r.id): (r.name, r.kind) for r in rows}
