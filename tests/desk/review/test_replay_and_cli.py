"""The review queues through a replay and at the terminal, on SQLite and PostgreSQL: a
replay of every group gives back the same items with the same counts and alerts nobody
again; a source of kind ``crm`` is the CRM without being named in the settings;
``omnicx review`` lists, resolves and dismisses, and says why it refuses."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from typer.testing import CliRunner

from omnicx.cli.main import app as cli
from omnicx.core.outbox import OutboxMessage
from omnicx.core.settings import get_settings
from omnicx.desk.review.models import BackfillItem, UnmatchedSender
from omnicx.ingest.sources import create_source
from omnicx.web.app import create_app
from tests.channels import sms_helpers
from tests.desk.review.review_helpers import review_env, webhook_receiver
from tests.factories import make_source, process


@pytest.fixture
def api(settings, monkeypatch, db) -> Any:
    with webhook_receiver() as (url, _):
        review_env(monkeypatch, url)
        english = {"Accept-Language": "en"}
        with TestClient(create_app(get_settings(), background=False), headers=english) as client:
            yield client


def _member_call(member: str, n: int) -> dict[str, Any]:
    return {
        "type": "track",
        "event": "Call Completed",
        "messageId": f"cti-{n}",
        "anonymousId": f"caller-{n}",
        "context": {"externalIds": [{"type": "member_id", "id": member}]},
    }


def _rows(db) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], int]:
    with db.read() as session:
        backfill = [
            (b.id, b.status, b.events, b.last_seq, b.resolved_by)
            for b in session.scalars(select(BackfillItem).order_by(BackfillItem.id))
        ]
        unmatched = [
            (u.id, u.customer_id, u.status)
            for u in session.scalars(select(UnmatchedSender).order_by(UnmatchedSender.id))
        ]
        outbox = session.scalar(select(func.count()).select_from(OutboxMessage)) or 0
    return backfill, unmatched, outbox


def test_replay_gives_back_the_same_items_and_alerts_nobody_again(api, db) -> None:
    _, cti_key = make_source(db, "cti-centre")
    for n, member in enumerate(("M-0001", "M-0001", "M-0002")):
        assert (
            api.post("/v1/track", json=_member_call(member, n), auth=(cti_key, "")).status_code
            == 200
        )
    sms = sms_helpers.create_sms(db)
    assert sms_helpers.post(api, sms, sms_helpers.text_form("快递到哪了？")).status_code == 200
    # The CRM, known by its kind alone, has M-0002.
    with db.write() as session:
        _, crm_key = create_source(session, "member-crm", "crm")
    body = {
        "type": "identify",
        "messageId": "crm-2",
        "userId": "crm-user-2",
        "traits": {"name": "赵敏"},
        "context": {"externalIds": [{"type": "member_id", "id": "M-0002"}]},
    }
    assert api.post("/v1/identify", json=body, auth=(crm_key, "")).status_code == 200
    process(db)
    before = _rows(db)
    backfill, unmatched, outbox = before
    assert [(status, events, by) for _, status, events, _, by in backfill] == [
        ("open", 2, None),
        ("resolved", 1, "crm"),
    ]
    assert [status for _, _, status in unmatched] == ["open"]
    assert outbox == 3  # two backfill items and one unmatched sender opened

    replay = CliRunner().invoke(cli, ["replay", "--yes"])
    assert replay.exit_code == 0, replay.output
    assert "review" in replay.output
    assert _rows(db) == before


def test_the_review_commands(api, db) -> None:
    _, cti_key = make_source(db, "cti-centre")
    assert (
        api.post("/v1/track", json=_member_call("M-7777", 1), auth=(cti_key, "")).status_code == 200
    )
    sms = sms_helpers.create_sms(db)
    assert sms_helpers.post(api, sms, sms_helpers.text_form("你好")).status_code == 200
    process(db)
    runner = CliRunner()
    listed = runner.invoke(cli, ["review", "list", "backfill"])
    assert listed.exit_code == 0, listed.output
    assert "member_id" in listed.output and "cti-centre" in listed.output
    with db.read() as session:
        backfill_id = session.scalar(select(BackfillItem.id))
        unmatched_id = session.scalar(select(UnmatchedSender.id))
    people = runner.invoke(cli, ["review", "list"])
    assert people.exit_code == 0 and "sms" in people.output
    no_note = runner.invoke(cli, ["review", "resolve", str(backfill_id), "--note", " "])
    assert no_note.exit_code == 1 and "note" in no_note.output
    done = runner.invoke(cli, ["review", "resolve", str(backfill_id), "--note", "CRM已补录"])
    assert done.exit_code == 0, done.output
    dismissed = runner.invoke(cli, ["review", "dismiss", str(unmatched_id), "--note", "新客户"])
    assert dismissed.exit_code == 0, dismissed.output
    again = runner.invoke(cli, ["review", "dismiss", str(unmatched_id)])
    assert again.exit_code == 1 and "dismissed already" in again.output
    assert runner.invoke(cli, ["review", "list", "nothing"]).exit_code == 2
    resolved = runner.invoke(cli, ["review", "list", "backfill", "--status", "all"])
    assert "resolved" in resolved.output
