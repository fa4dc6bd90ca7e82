"""Canned replies and macros over HTTP: variables filled in as the agent may see the
customer, managers only may change them, a macro does all of its actions or none, and
row-level access holds (another team's agent gets 404)."""

from __future__ import annotations

from omnicx.desk.messages import Sender
from omnicx.governance.audit import AuditFilter, detail_of, search
from tests.core.test_migrations import empty_database  # noqa: F401  (fixture)
from tests.desk.factories import Customers, conversations, make_agent, make_rule, messages
from tests.desk.test_migration import check_revision
from tests.factories import append_calls, call, make_token, process

INVOICE = "{{ customer.name }}您好，您的发票已开具，请查收。客服{{ agent.name }}"


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _conversation(db, team: str = "售后服务"):
    agent, token = make_agent(db, team)
    make_rule(db, team)
    people = Customers(db)
    append_calls(
        db,
        people.source_id,
        [call("identify", 0, userId="c-9", traits={"name": "张伟华", "phone": "13800138000"})],
    )
    people.write("我的发票开好了吗？", thread="c-9", sender=Sender(user_id="c-9"), minutes=1)
    process(db)
    [conversation] = conversations(db)
    return conversation, agent, token


def _canned(client, db, code="invoice", body=INVOICE):
    manager = _auth(make_token(db, "supervisor"))
    made = client.post(
        "/api/v1/canned-replies",
        json={"code": code, "title": "发票已开具", "body": body},
        headers=manager,
    )
    assert made.status_code == 201, made.text
    return made.json()


def test_a_canned_reply_greets_the_customer_as_the_agent_may_see_them(client, db):
    conversation, _, token = _conversation(db)
    _canned(client, db)
    url = f"/api/v1/conversations/{conversation.id}/canned-replies/render"
    agent_text = client.post(url, json={"code": "/invoice"}, headers=_auth(token)).json()["text"]
    assert agent_text.startswith("张**您好") and "张伟华" not in agent_text
    assert agent_text.endswith("客服坐席" + agent_text.rsplit("客服坐席", 1)[1])
    admin = _auth(make_token(db, "admin"))
    assert (
        client.post(url, json={"code": "invoice"}, headers=admin)
        .json()["text"]
        .startswith("张伟华您好")
    )
    # The render is a read of customer data: audited like the 360 view.
    with db.read() as session:
        vias = [detail_of(e)["via"] for e in search(session, AuditFilter(action="customer.view"))]
    assert "desk.canned_reply" in vias


def test_a_template_reaches_only_the_values_it_is_given(client, db):
    conversation, _, token = _conversation(db)
    url = f"/api/v1/conversations/{conversation.id}/canned-replies/render"
    sneaky = "{{ customer.__class__.__mro__ }}{{ ''.__class__.__subclasses__() }}"
    answer = client.post(url, json={"body": sneaky}, headers=_auth(token))
    assert answer.status_code == 400
    assert "subclasses" not in answer.text and "<class" not in answer.text
    unknown = client.post(
        url, json={"body": "您好{{ customer.nothing.here }}"}, headers=_auth(token)
    )
    assert unknown.json()["text"] == "您好"


def test_only_managers_change_canned_replies_and_bad_ones_are_400(client, db):
    _, _, token = _conversation(db)
    denied = client.post(
        "/api/v1/canned-replies",
        json={"code": "x", "title": "t", "body": "b"},
        headers=_auth(token),
    )
    assert denied.status_code == 403
    manager = _auth(make_token(db, "supervisor"))
    broken = client.post(
        "/api/v1/canned-replies",
        json={"code": "bad", "title": "坏模板", "body": "{{ customer.name "},
        headers=manager,
    )
    assert broken.status_code == 400 and broken.json()["error"]["field"] == "body"
    code = client.post(
        "/api/v1/canned-replies",
        json={"code": "发票", "title": "t", "body": "b"},
        headers=manager,
    )
    assert code.status_code == 400 and code.json()["error"]["field"] == "code"
    _canned(client, db)
    again = client.post(
        "/api/v1/canned-replies",
        json={"code": "invoice", "title": "t", "body": "b"},
        headers=manager,
    )
    assert again.status_code == 409
    found = client.get("/api/v1/canned-replies?q=/inv", headers=_auth(token)).json()
    assert [c["code"] for c in found] == ["invoice"]
    assert client.get("/api/v1/canned-replies?q=发票", headers=_auth(token)).json() == found


def test_a_macro_replies_labels_and_resolves_in_one_click(client, db):
    conversation, _, token = _conversation(db)
    _canned(client, db)
    manager = _auth(make_token(db, "supervisor"))
    macro = client.post(
        "/api/v1/macros",
        json={
            "name": "发票已开具并结案",
            "actions": [
                {"action": "reply", "canned": "invoice"},
                {"action": "note", "text": "已通过邮件发送发票"},
                {"action": "label", "labels": ["发票"]},
                {"action": "priority", "priority": "high"},
                {"action": "status", "status": "resolved"},
            ],
        },
        headers=manager,
    )
    assert macro.status_code == 201, macro.text
    ran = client.post(
        f"/api/v1/conversations/{conversation.id}/macros/{macro.json()['id']}",
        headers=_auth(token),
    )
    assert ran.status_code == 200, ran.text
    assert ran.json()["status"] == "resolved" and ran.json()["labels"] == ["发票"]
    assert ran.json()["priority"] == "high"
    sent = messages(db, conversation.id)
    assert [m.direction for m in sent] == ["in", "out", "note"]
    assert sent[1].text.startswith("张**您好")  # the agent's view went out, as specified


def test_a_macro_does_all_or_nothing_and_respects_the_agents_rights(client, db):
    conversation, _, token = _conversation(db)
    other_agent, _ = make_agent(db, "售后服务")
    manager = _auth(make_token(db, "supervisor"))
    macro = client.post(
        "/api/v1/macros",
        json={
            "name": "转给同事",
            "actions": [
                {"action": "label", "labels": ["转交"]},
                {"action": "assign", "assignee_id": other_agent},
            ],
        },
        headers=manager,
    ).json()
    refused = client.post(
        f"/api/v1/conversations/{conversation.id}/macros/{macro['id']}", headers=_auth(token)
    )
    assert refused.status_code == 403
    [after] = conversations(db)
    assert after.labels == conversation.labels  # the first action was rolled back


def test_another_teams_agent_cannot_use_them_on_a_conversation(client, db):
    conversation, _, _ = _conversation(db)
    _canned(client, db)
    _, outsider = make_agent(db, "高级客服")
    answer = client.post(
        f"/api/v1/conversations/{conversation.id}/canned-replies/render",
        json={"code": "invoice"},
        headers=_auth(outsider),
    )
    assert answer.status_code == 404


def test_bad_macros_are_400_naming_the_action(client, db):
    manager = _auth(make_token(db, "supervisor"))
    wrong = client.post(
        "/api/v1/macros",
        json={"name": "坏宏", "actions": [{"action": "status", "status": "exploded"}]},
        headers=manager,
    )
    assert wrong.status_code == 400
    assert (
        wrong.json()["error"]["field"] == "actions" and "status" in wrong.json()["error"]["message"]
    )
    missing = client.post(
        "/api/v1/macros",
        json={"name": "坏宏", "actions": [{"action": "reply", "canned": "nope"}]},
        headers=manager,
    )
    assert missing.status_code == 404


def test_migration_0011_creates_the_canned_tables_and_removes_them(empty_database):  # noqa: F811
    check_revision(empty_database, "0011", "0010", {"desk_canned_replies", "desk_macros"})


def test_a_reply_to_a_message_no_adapter_brought_stays_queued(client, db):
    """The demo's and imported web chat messages name no channel instance: their replies
    are not queued for a delivery that could only fail."""
    from sqlalchemy import func, select

    from omnicx.core.outbox import OutboxMessage

    conversation, _, token = _conversation(db)  # a webchat message without channel_id
    sent = client.post(
        f"/api/v1/conversations/{conversation.id}/messages",
        json={"kind": "reply", "text": "您好，发票已开具。"},
        headers=_auth(token),
    )
    assert sent.status_code == 201 and sent.json()["delivery"] == "queued"
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 0
