"""Erasure of a person built from many identities: nothing of them is left anywhere —
not in any live row (decrypted), not in the database files' bytes (SQLite file and WAL,
every ciphertext in them decrypted too) nor in a ``pg_dump`` — and sending the same
identifiers again does not bring them back."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from omnicx.core.crypto import EncryptedText, KeyRing, keyring
from omnicx.core.database import Base, Database, RawStatements
from omnicx.core.eventlog.codec import decode_payload
from omnicx.core.eventlog.models import EventRow
from omnicx.core.outbox import OutboxMessage, enqueue
from omnicx.core.serialization import loads
from omnicx.core.settings import Settings
from omnicx.core.time import parse_timestamp, utcnow
from omnicx.customers.models import CustomerProfile, TimelineEntry
from omnicx.customers.profiles import decode_traits
from omnicx.governance import audit
from omnicx.governance.models import Consent, PrivacyRequest, Suppression
from omnicx.identity.models import Customer, Identifier, open_value
from omnicx.identity.service import identifier_hash
from omnicx.runtime.schema import load_all_models
from tests.factories import call, make_source, make_token, process
from tests.governance.privacy_people import (
    EMAIL,
    NAME,
    PHONE,
    SECRETS,
    hashes_of_li_na,
    li_na_calls,
    merged_ids,
    send_li_na,
)

TOKEN = re.compile(rb"v1\.[A-Za-z0-9]{1,16}\.[A-Za-z0-9_-]{24,}")
MAX_TRAILING = 64
VACUUMED = (
    "consents",
    "customer_profiles",
    "dead_letters",
    "events",
    "identifiers",
    "identity_conflicts",
    "identity_links",
    "outbox",
)


def hash_of(kind: str, value: str) -> bytes:
    return identifier_hash(kind, value)[2]


def purposes() -> set[str]:
    """Every purpose an encrypted column uses, so that any ciphertext can be opened."""
    load_all_models()
    found: set[str] = set()
    for table in Base.metadata.tables.values():
        for column in table.columns:
            if isinstance(column.type, EncryptedText):
                found.add(column.type.purpose)
    return found


def opened_ciphertexts(data: bytes) -> list[str]:
    """Every ciphertext in ``data`` that some key and purpose still opens, as text."""
    ring, known, opened = keyring(), purposes(), []
    for match in TOKEN.finditer(data):
        token = match.group().decode()
        # In a file the next column's bytes may follow without a separator: try shorter.
        for end in range(len(token), max(len(token) - MAX_TRAILING, 0), -1):
            text = _open(ring, token[:end], known)
            if text is not None:
                opened.append(text)
                break
    return opened


def _open(ring: KeyRing, token: str, known: set[str]) -> str | None:
    for purpose in known:
        try:
            return ring.decrypt(token, purpose).decode("utf-8", "replace")
        except ValueError:  # not base64, wrong purpose, or not a whole ciphertext
            continue
    return None


def assert_absent(texts: list[str], where: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret.lower() not in text.lower(), f"{secret!r} found in {where}: {text[:200]}"


def live_plaintexts(db: Database) -> list[str]:
    """Every encrypted column of every row, decrypted with the codecs."""
    with db.read() as session:
        raw = RawStatements(session)
        texts = [str(decode_payload(p)) for (p,) in raw.select("SELECT payload FROM events")]
        texts += [open_value(v) for (v,) in raw.select("SELECT value FROM identifiers")]
        texts += [
            str(decode_traits(t)) for (t,) in raw.select("SELECT traits FROM customer_profiles")
        ]
        texts += list(session.scalars(select(OutboxMessage.payload)))
        texts += [c.note or "" for c in session.scalars(select(Consent))]
    return texts


def database_bytes(settings: Settings, backend: str, tmp_path: Path) -> bytes:
    if backend == "sqlite":
        files = [settings.home / "omnicx.db", settings.home / "omnicx.db-wal"]
        return b"".join(f.read_bytes() for f in files if f.exists())
    if shutil.which("pg_dump") is None:
        pytest.skip("pg_dump is not installed")
    dump = subprocess.run(
        ["pg_dump", "--data-only", "--no-owner", settings.resolved_database_url],
        check=True,
        capture_output=True,
    )
    return dump.stdout


def test_erasure_removes_the_person_everywhere(client, db, settings, backend, tmp_path):
    _, key = make_source(db)
    auth = {"Authorization": f"Bearer {make_token(db)}"}
    survivor = send_li_na(client, db, key)
    family = merged_ids(db, survivor)
    assert len(family) >= 3, "the test needs a person made of several merged customers"
    with db.write() as session:
        enqueue(
            session,
            "webhook",
            {"url": "http://127.0.0.1:9/hook", "body": {"to": EMAIL, "text": f"您好{NAME}"}},
            customer_id=survivor,
            purpose="service",
            channel="email",
        )
        now = utcnow()
        for customer_id, anchor in ((survivor, None), (10_000, hash_of("email", EMAIL))):
            # The second one is as a replay leaves it: found by its anchor, not its id.
            session.add(
                Consent(
                    customer_id=customer_id,
                    purpose="marketing",
                    channel="sms",
                    granted=True,
                    source="ui",
                    note=f"said yes on the phone ({PHONE})",
                    occurred_at=now,
                    recorded_at=now,
                    anchor_hash=anchor,
                )
            )
    before = opened_ciphertexts(database_bytes(settings, backend, tmp_path))
    assert any(NAME in text for text in before), "the scan must be able to see her data"

    response = client.post(
        "/api/v1/privacy/requests",
        json={
            "kind": "erase",
            "identifier": {"type": "phone", "value": "+86 138-0013-8000"},
            "reason": "ticket 4411: the customer asked to be forgotten",
        },
        headers=auth,
    )

    assert response.status_code == 201, response.text
    request = response.json()
    assert request["status"] == "completed" and request["customer_id"] == survivor
    assert parse_timestamp(request["due_at"]) - parse_timestamp(request["created_at"]) == (
        timedelta(days=30)
    )
    assert request["result"]["storage"] == (
        "checkpointed" if backend == "sqlite" else "vacuumed " + ", ".join(VACUUMED)
    )
    counts = request["result"]["counts"]
    assert counts["identifiers"] == counts["suppressions"] == 9
    assert counts["events"] == len(li_na_calls())
    assert counts["outbox"] == 1 and counts["consents"] == 2
    assert_absent(live_plaintexts(db), "a live row")
    raw = database_bytes(settings, backend, tmp_path)
    for secret in SECRETS:
        assert secret.encode() not in raw, f"{secret!r} in the database's bytes"
    opened = opened_ciphertexts(raw)
    assert opened, "no ciphertext found at all: the scan is not looking at the data"
    assert_absent(opened, "a ciphertext in the database's bytes")

    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(Identifier)) == 0
        customers = list(session.scalars(select(Customer).where(Customer.id.in_(family))))
        assert {c.id for c in customers} == family and all(c.erased_at for c in customers)
        profile = session.get(CustomerProfile, survivor)
        assert profile is not None and profile.event_count == len(li_na_calls())
        assert loads(profile.traits) == {}
        timeline = session.scalar(
            select(func.count())
            .select_from(TimelineEntry)
            .where(TimelineEntry.customer_id == survivor)
        )
        assert timeline == len(li_na_calls()), "anonymous aggregates stay"
        message = session.scalar(select(OutboxMessage))
        assert message is not None and message.status == "refused"
        stored = {bytes(s.key_hash) for s in session.scalars(select(Suppression))}
        assert hashes_of_li_na() <= stored
        entry = audit.search(session, audit.AuditFilter(action="privacy.erase"), limit=1)[0]
        assert entry.target_id == str(survivor)
        assert_absent([entry.detail], "the audit log")


def test_the_same_identifiers_do_not_bring_the_person_back(client, db):
    _, key = make_source(db)
    auth = {"Authorization": f"Bearer {make_token(db)}"}
    survivor = send_li_na(client, db, key)
    erased = client.post(
        "/api/v1/privacy/requests",
        json={"kind": "erase", "customer_id": survivor, "reason": "asked by letter"},
        headers=auth,
    )
    assert erased.status_code == 201 and erased.json()["status"] == "completed"
    with db.read() as session:
        customers_before = session.scalar(select(func.count()).select_from(Customer))
        last_seq = session.scalar(select(func.max(EventRow.seq)))

    again = [*li_na_calls(), call("identify", 30, userId="crm-li-77", traits={"email": EMAIL})]
    stranger = call("track", 31, anonymousId="someone-else", event="Page Viewed")
    response = client.post("/v1/batch", json={"batch": [*again, stranger]}, auth=(key, ""))
    assert response.status_code == 200, response.text
    process(db)

    with db.read() as session:
        keys = [bytes(k) for k in session.scalars(select(Identifier.key_hash))]
        assert not set(keys) & hashes_of_li_na(), "an erased identifier was created again"
        assert session.scalar(select(func.count()).select_from(Customer)) == customers_before + 1
        rows = RawStatements(session).select(
            "SELECT type, payload FROM events WHERE seq > ? ORDER BY seq", (last_seq,)
        )
        payloads = [decode_payload(p) for _, p in rows]
        assert [p.get("redacted") for p in payloads] == ["suppressed"] * len(again) + [None]
        assert [p["type"] for p in payloads[:-1]] == [t for t, _ in rows[:-1]]
        assert (
            session.scalar(
                select(func.count())
                .select_from(TimelineEntry)
                .where(TimelineEntry.event_seq > last_seq)
            )
            == 1
        ), "only the stranger's event reaches a timeline"
        request = session.scalar(select(PrivacyRequest))
        assert request is not None and request.status == "completed"
    assert_absent(live_plaintexts(db), "a live row after the resend")
