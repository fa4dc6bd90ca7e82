"""What an agent does on the conversation page, over HTTP on SQLite and PostgreSQL: reply
and note, canned replies filled in as the agent may see the customer, macros (all or
nothing), assignment, snooze, status, priority, labels and tickets; every post
CSRF-checked, every refusal a translated 4xx that changes nothing."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from omnicx.core.eventlog.models import EventRow
from omnicx.desk.messages import SENT
from omnicx.governance.audit import AuditFilter, detail_of, search
from omnicx.web.conversation_actions import snooze_until
from tests.desk.factories import conversations, messages
from tests.web.console_scene import MASKED_NAME, NAME, person, scene, sign_in

HTMX = {"HX-Request": "true"}
INVOICE = "{{ customer.name }}您好，您的发票已开具，请查收。客服{{ agent.name }}"


def _post(client, s, action: str, csrf: str, **form: str):
    return client.post(
        f"/desk/conversations/{s.conversation_id}/{action}",
        data={**form, "csrf": csrf},
        headers=HTMX,
    )


def _conversation(db, s):
    return next(c for c in conversations(db) if c.id == s.conversation_id)


def _sent_events(db) -> int:
    with db.read() as session:
        return session.scalar(
            select(func.count()).select_from(EventRow).where(EventRow.name == SENT)
        )


def test_a_reply_goes_on_the_log_and_a_note_stays_in_the_desk(client, db):
    s = scene(db)
    csrf = sign_in(client, s.agent)
    reply = _post(client, s, "messages", csrf, text="您好，师傅明天上午上门。")
    assert reply.status_code == 200, reply.text
    assert reply.headers["HX-Trigger"] == "conversation-changed"
    assert 'role="status"' in reply.text
    note = _post(client, s, "messages", csrf, kind="note", text="客户很着急")
    assert note.status_code == 200
    stored = messages(db, s.conversation_id)
    assert [(m.direction, m.author_user_id) for m in stored[1:]] == [
        ("out", s.agent.user_id),
        ("note", s.agent.user_id),
    ]
    assert _sent_events(db) == 1  # the note never reaches the event log
    assert _conversation(db, s).first_reply_at is not None


def test_a_post_without_its_csrf_token_or_with_bad_input_changes_nothing(client, db):
    s = scene(db)
    csrf = sign_in(client, s.agent)
    forged = _post(client, s, "messages", "forged", text="你好")
    assert forged.status_code == 403 and "reload and retry" in forged.text
    empty = _post(client, s, "messages", csrf, text="   ")
    assert empty.status_code == 400 and "needs text" in empty.text
    wrong_kind = _post(client, s, "messages", csrf, kind="shout", text="你好")
    assert wrong_kind.status_code == 400 and "kind is one of reply, note" in wrong_kind.text
    assert len(messages(db, s.conversation_id)) == 1
    for action, form, expected in [
        ("status", {"status": "exploded"}, "status is one of"),
        ("priority", {"priority": "asap"}, "priority is one of"),
        ("labels", {"add": "长" * 51}, "a label is 1 to 50 characters"),
        ("labels", {"add": " "}, "Write the label to add."),
        ("labels", {"remove": "从没有过"}, "has no label 从没有过"),
        ("assign", {"assignee": "somebody"}, "Choose an agent."),
        ("assign", {"assignee": "9" * 5000}, "Choose an agent."),
        ("assign", {"assignee": "²"}, "Choose an agent."),
        ("transfer", {"team_id": "1"}, "only assign conversations to themselves"),
        ("snooze", {"preset": "custom", "until": "0001-01-01T00:00"}, "Choose the day and time"),
        ("snooze", {"preset": "custom", "until": "not a time"}, "Choose the day and time"),
        ("snooze", {"preset": "forever"}, "Choose how long to snooze."),
        ("tickets", {"title": " ", "type": "repair"}, "a title is 1 to 200 characters"),
        ("tickets", {"title": "上门维修", "type": "miracle"}, "type is one of"),
        ("macro", {"macro_id": "x"}, "Choose a macro."),
        ("macro", {"macro_id": "999"}, "no macro 999"),
    ]:
        answer = _post(client, s, action, csrf, **form)
        assert 400 <= answer.status_code < 500, (action, form, answer.status_code)
        assert expected in answer.text, (action, answer.text)
        assert 'role="alert"' in answer.text
    after = _conversation(db, s)
    assert (after.status, after.priority, after.labels) == ("open", "normal", "[]")


def test_errors_are_in_the_readers_language(client, db):
    s = scene(db)
    csrf = sign_in(client, s.agent)
    answer = client.post(
        f"/desk/conversations/{s.conversation_id}/labels",
        data={"add": " ", "csrf": csrf},
        headers=HTMX | {"Accept-Language": "zh-CN"},
    )
    assert answer.status_code == 400 and "写下要添加的标签" in answer.text


def test_a_plain_form_post_comes_back_to_the_page(client, db):
    s = scene(db)
    csrf = sign_in(client, s.agent)
    done = client.post(
        f"/desk/conversations/{s.conversation_id}/priority",
        data={"priority": "high", "csrf": csrf},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert done.headers["location"] == f"/desk/conversations/{s.conversation_id}"
    assert _conversation(db, s).priority == "high"


def test_canned_replies_are_listed_by_code_and_filled_in_masked(client, db):
    s = scene(db)
    supervisor = {"Authorization": f"Bearer {person(db, None, 'supervisor').token}"}
    made = client.post(
        "/api/v1/canned-replies",
        json={"code": "invoice", "title": "发票已开具", "body": INVOICE},
        headers=supervisor,
    )
    assert made.status_code == 201, made.text
    csrf = sign_in(client, s.agent)
    path = f"/desk/conversations/{s.conversation_id}/canned"
    listed = client.get(path, params={"q": "inv"}, headers=HTMX)
    assert listed.status_code == 200 and 'data-code="invoice"' in listed.text
    assert "发票已开具" in listed.text
    none = client.get(path, params={"q": "zzz"}, headers=HTMX)
    assert 'data-code="' not in none.text and "/zzz" in none.text
    filled = client.post(path, data={"code": "invoice", "csrf": csrf}, headers=HTMX)
    assert filled.status_code == 200 and filled.headers["content-type"].startswith("text/plain")
    assert filled.text.startswith(MASKED_NAME + "您好") and NAME not in filled.text
    assert "{{" not in filled.text
    unknown = client.post(path, data={"code": "nope", "csrf": csrf}, headers=HTMX)
    assert unknown.status_code == 404 and "no canned reply /nope" in unknown.text
    forged = client.post(path, data={"code": "invoice", "csrf": "x"}, headers=HTMX)
    assert forged.status_code == 403
    with db.read() as session:
        vias = [detail_of(e)["via"] for e in search(session, AuditFilter(action="customer.view"))]
    assert vias.count("desk.canned_reply") == 1


def test_a_macro_runs_all_of_its_actions_or_none(client, db):
    s = scene(db)
    other = person(db, "售后服务")
    supervisor = {"Authorization": f"Bearer {person(db, None, 'supervisor').token}"}
    client.post(
        "/api/v1/canned-replies",
        json={"code": "invoice", "title": "发票已开具", "body": INVOICE},
        headers=supervisor,
    )
    good = client.post(
        "/api/v1/macros",
        json={
            "name": "发票已开具并结案",
            "actions": [
                {"action": "reply", "canned": "invoice"},
                {"action": "label", "labels": ["发票"]},
                {"action": "status", "status": "resolved"},
            ],
        },
        headers=supervisor,
    ).json()
    bad = client.post(
        "/api/v1/macros",
        json={
            "name": "转给同事",
            "actions": [
                {"action": "label", "labels": ["转交"]},
                {"action": "assign", "assignee_id": other.user_id},
            ],
        },
        headers=supervisor,
    ).json()
    csrf = sign_in(client, s.agent)
    page = client.get(f"/desk/conversations/{s.conversation_id}").text
    assert "发票已开具并结案" in page and "转给同事" in page
    refused = _post(client, s, "macro", csrf, macro_id=str(bad["id"]))
    assert refused.status_code == 403
    assert _conversation(db, s).labels == "[]"  # its first action was rolled back
    ran = _post(client, s, "macro", csrf, macro_id=str(good["id"]))
    assert ran.status_code == 200 and "发票已开具并结案" in ran.text and "3 actions" in ran.text
    after = _conversation(db, s)
    assert after.status == "resolved" and json.loads(after.labels) == ["发票"]
    replies = [m for m in messages(db, s.conversation_id) if m.direction == "out"]
    assert len(replies) == 1 and replies[0].text.startswith(MASKED_NAME + "您好")


def test_status_priority_and_labels(client, db):
    s = scene(db)
    csrf = sign_in(client, s.agent)
    assert _post(client, s, "status", csrf, status="resolved").status_code == 200
    assert _conversation(db, s).status == "resolved"
    summary = client.get(f"/desk/conversations/{s.conversation_id}/summary", headers=HTMX).text
    assert 'id="reopen-button"' in summary and 'id="resolve-button"' not in summary
    reopened = _post(client, s, "status", csrf, status="open")
    assert reopened.status_code == 200 and "Reopened." in reopened.text
    assert _post(client, s, "priority", csrf, priority="urgent").status_code == 200
    assert _post(client, s, "labels", csrf, add="投诉").status_code == 200
    assert _post(client, s, "labels", csrf, add="空调").status_code == 200
    assert json.loads(_conversation(db, s).labels) == ["投诉", "空调"]
    assert _post(client, s, "labels", csrf, remove="投诉").status_code == 200
    after = _conversation(db, s)
    assert (after.status, after.priority, json.loads(after.labels)) == ("open", "urgent", ["空调"])


def test_snooze_presets(client, db):
    s = scene(db)
    csrf = sign_in(client, s.agent)
    before = datetime.now(UTC)
    assert _post(client, s, "snooze", csrf, preset="hour").status_code == 200
    until = _conversation(db, s).snoozed_until
    assert until is not None
    assert timedelta(minutes=59) < until.replace(tzinfo=UTC) - before < timedelta(minutes=61)
    past = _post(client, s, "snooze", csrf, preset="custom", until="2020-01-01T09:00")
    assert past.status_code == 400 and "in the future" in past.text
    assert _post(client, s, "snooze", csrf, preset="tomorrow").status_code == 200
    morning = _conversation(db, s).snoozed_until.replace(tzinfo=UTC)
    local = morning.astimezone(ZoneInfo("Asia/Shanghai"))
    assert (local.hour, local.minute) == (9, 0) and local.date() > before.date() - timedelta(1)
    chosen = (datetime.now(ZoneInfo("Asia/Shanghai")) + timedelta(days=3)).replace(
        hour=14, minute=30, second=0, microsecond=0
    )
    picked = _post(
        client, s, "snooze", csrf, preset="custom", until=chosen.strftime("%Y-%m-%dT%H:%M")
    )
    assert picked.status_code == 200
    assert _conversation(db, s).snoozed_until.replace(tzinfo=UTC) == chosen.astimezone(UTC)
    assert _conversation(db, s).status == "snoozed"


def test_tomorrow_morning_is_nine_in_the_sites_time_zone():
    zone = ZoneInfo("Asia/Shanghai")
    late = datetime(2026, 3, 1, 17, 0, tzinfo=UTC)  # 01:00 on 2 March in Shanghai
    assert snooze_until("tomorrow", "", zone, late) == datetime(2026, 3, 3, 9, 0, tzinfo=zone)
    assert snooze_until("hour", "", zone, late) == late + timedelta(hours=1)
    assert snooze_until("custom", "2026-03-05T08:15", zone, late) == datetime(
        2026, 3, 5, 8, 15, tzinfo=zone
    )


def test_agents_claim_for_themselves_and_supervisors_assign_and_transfer(client, db):
    s = scene(db)
    other = person(db, "售后服务")
    csrf = sign_in(client, s.agent)
    refused = _post(client, s, "assign", csrf, assignee=str(other.user_id))
    assert refused.status_code == 403 and "only assign conversations to themselves" in refused.text
    assert _conversation(db, s).assignee_id == s.agent.user_id
    page = client.get(f"/desk/conversations/{s.conversation_id}").text
    assert 'id="assign-me"' not in page  # it is theirs already
    csrf = sign_in(client, s.senior)
    assert _post(client, s, "assign", csrf, assignee="me").status_code == 200
    assert _conversation(db, s).assignee_id == s.senior.user_id
    supervisor = person(db, None, "supervisor")
    csrf = sign_in(client, supervisor)
    summary = client.get(f"/desk/conversations/{s.conversation_id}/summary", headers=HTMX).text
    assert f'<option value="{other.user_id}"' in summary and "online" in summary
    assert _post(client, s, "assign", csrf, assignee=str(other.user_id)).status_code == 200
    assert _conversation(db, s).assignee_id == other.user_id
    teams = client.get(
        "/api/v1/teams", headers={"Authorization": f"Bearer {supervisor.token}"}
    ).json()
    target = next(t["id"] for t in teams if t["name"] == "高级客服")
    moved = _post(client, s, "transfer", csrf, team_id=str(target))
    assert moved.status_code == 200
    after = _conversation(db, s)
    assert after.team_id == target and after.assignee_id == s.outsider.user_id  # round robin
    # The agent of the old team no longer sees it.
    sign_in(client, s.agent)
    gone = client.get(f"/desk/conversations/{s.conversation_id}/summary", headers=HTMX)
    assert gone.status_code == 404


def test_a_ticket_from_the_conversation_leads_to_its_page(client, db):
    s = scene(db)
    csrf = sign_in(client, s.agent)
    made = _post(client, s, "tickets", csrf, title="空调不制冷，安排上门", type="repair")
    assert made.status_code == 200, made.text
    location = made.headers["HX-Redirect"]
    assert location.startswith("/desk/tickets/")
    ticket_id = int(location.rsplit("/", 1)[1])
    token = {"Authorization": f"Bearer {s.agent.token}"}
    ticket = client.get(f"/api/v1/tickets/{ticket_id}", headers=token).json()
    assert ticket["type"] == "repair" and ticket["conversation_ids"] == [s.conversation_id]
    assert ticket["customer_id"] == s.customer_id and ticket["owner_id"] == s.agent.user_id
    plain = client.post(
        f"/desk/conversations/{s.conversation_id}/tickets",
        data={"title": "开发票", "type": "invoice", "priority": "high", "csrf": csrf},
        follow_redirects=False,
    )
    assert plain.status_code == 303 and plain.headers["location"].startswith("/desk/tickets/")
