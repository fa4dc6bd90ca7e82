"""Tickets over HTTP: from a conversation (its customer and team, linked) or the API;
type, priority, status, owner, team; comments and the history of every change; row-level
access (another team's agent gets 404); the SLA resolution clock follows the status;
clear 4xx errors. SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import select

from omnicx.desk.sla.models import SlaClock
from omnicx.desk.tickets.models import TicketComment
from tests.core.test_migrations import empty_database  # noqa: F401  (fixture)
from tests.desk.factories import Customers, conversations, make_agent, make_rule
from tests.desk.sla.factories import ALWAYS, make_calendar, make_policy
from tests.desk.test_canned import _auth, _conversation
from tests.desk.test_migration import check_revision
from tests.factories import make_token, process


def _ticket_from(client, token, conversation_id, **fields):
    body = {"title": "空调漏水，需上门维修", "type": "repair", "priority": "high"} | fields
    made = client.post(
        f"/api/v1/conversations/{conversation_id}/tickets", json=body, headers=_auth(token)
    )
    assert made.status_code == 201, made.text
    return made.json()


def test_a_ticket_from_a_conversation_takes_its_customer_and_team(client, db):
    conversation, agent, token = _conversation(db)
    ticket = _ticket_from(client, token, conversation.id)
    assert ticket["customer_id"] == conversation.customer_id
    assert ticket["team_id"] == conversation.team_id and ticket["owner_id"] == agent
    assert ticket["conversation_ids"] == [conversation.id]
    assert ticket["customer"]["name"] == "张**"  # masked for the agent, as everywhere
    assert [h["action"] for h in ticket["history"]] == ["created", "linked"]


def test_comments_and_changes_are_kept_in_the_history(client, db):
    conversation, _, token = _conversation(db)
    ticket = _ticket_from(client, token, conversation.id)
    url = f"/api/v1/tickets/{ticket['id']}"
    commented = client.post(
        f"{url}/comments", json={"text": "已联系师傅，客户电话13800138000"}, headers=_auth(token)
    )
    assert commented.status_code == 201
    assert commented.json()["status"] == "open"  # somebody works on it now
    assert "13800138000" not in commented.json()["comments"][0]["text"]  # masked for agents
    with db.read() as session:
        [stored] = session.scalars(select(TicketComment.text)).all()
    assert "13800138000" in stored  # kept whole (encrypted at rest), masked when shown
    changed = client.patch(
        url, json={"status": "pending", "priority": "urgent"}, headers=_auth(token)
    ).json()
    assert (changed["status"], changed["priority"]) == ("pending", "urgent")
    last = changed["history"][-1]
    assert last["action"] == "updated"
    assert last["detail"]["status"] == {"from": "open", "to": "pending"}
    assert last["detail"]["priority"] == {"from": "high", "to": "urgent"}
    title = client.patch(url, json={"title": "改：上门维修"}, headers=_auth(token)).json()
    assert title["history"][-1]["detail"] == {"title": {"changed": True}}


def test_row_level_access_and_rights(client, db):
    conversation, _, token = _conversation(db)
    ticket = _ticket_from(client, token, conversation.id)
    _, outsider = make_agent(db, "高级客服")
    assert client.get(f"/api/v1/tickets/{ticket['id']}", headers=_auth(outsider)).status_code == 404
    assert client.get("/api/v1/tickets", headers=_auth(outsider)).json()["items"] == []
    mine = client.get("/api/v1/tickets?view=mine", headers=_auth(token)).json()["items"]
    assert [t["id"] for t in mine] == [ticket["id"]]
    # An agent cannot give the ticket away nor move it to another team; a supervisor can.
    other, _ = make_agent(db, "售后服务")
    denied = client.patch(
        f"/api/v1/tickets/{ticket['id']}", json={"owner_id": other}, headers=_auth(token)
    )
    assert denied.status_code == 403
    supervisor = _auth(make_token(db, "supervisor"))
    moved = client.patch(
        f"/api/v1/tickets/{ticket['id']}", json={"owner_id": other}, headers=supervisor
    )
    assert moved.status_code == 200 and moved.json()["owner_id"] == other
    # A second conversation of the customer can be linked; one the agent cannot see cannot.
    people = Customers(db)
    make_rule(db, "高级客服")
    people.write("另一个问题", thread="other-thread", minutes=3)
    process(db)
    hidden = next(c for c in conversations(db) if c.id != conversation.id)
    link = client.post(
        f"/api/v1/tickets/{ticket['id']}/conversations",
        json={"conversation_id": hidden.id},
        headers=supervisor,
    )
    assert link.status_code == 200 and hidden.id in link.json()["conversation_ids"]


def test_the_resolution_clock_follows_the_ticket(client, db):
    calendar = make_calendar(db, hours=ALWAYS, region=None)
    make_policy(db, calendar, ticket_type="repair", resolution_seconds=86400)
    conversation, _, token = _conversation(db)
    ticket = _ticket_from(client, token, conversation.id)

    def state():
        with db.read() as session:
            rows = session.execute(
                select(SlaClock.state, SlaClock.paused_at)
                .where(SlaClock.target_kind == "ticket", SlaClock.target_id == ticket["id"])
                .order_by(SlaClock.id)
            ).all()
        return [(s, p is not None) for s, p in rows]

    assert state() == [("running", False)]
    url = f"/api/v1/tickets/{ticket['id']}"
    client.patch(url, json={"status": "pending"}, headers=_auth(token))
    assert state() == [("running", True)]
    client.patch(url, json={"status": "resolved"}, headers=_auth(token))
    assert state() == [("met", False)]
    client.patch(url, json={"status": "closed"}, headers=_auth(token))
    reopened = client.patch(url, json={"status": "open"}, headers=_auth(token))
    assert reopened.status_code == 409  # closed stays closed


def test_bad_tickets_are_clear_4xx(client, db):
    _, _, token = _conversation(db)
    for body, field in (
        ({"title": "", "type": "repair"}, "title"),
        ({"title": "x", "type": "teleport"}, None),
    ):
        answer = client.post("/api/v1/tickets", json=body, headers=_auth(token))
        assert answer.status_code in (400, 422), answer.text
        if field:
            assert answer.json()["error"]["field"] == field
    assert (
        client.patch(
            "/api/v1/tickets/999", json={"status": "open"}, headers=_auth(token)
        ).status_code
        == 404
    )
    assert client.get("/api/v1/tickets?view=everything", headers=_auth(token)).status_code == 422
    analyst = _auth(make_token(db, "analyst"))
    assert client.get("/api/v1/tickets", headers=analyst).status_code == 403


def test_migration_0012_creates_and_removes_the_ticket_tables(empty_database):  # noqa: F811
    check_revision(
        empty_database,
        "0012",
        "0011",
        {
            "desk_tickets",
            "desk_ticket_conversations",
            "desk_ticket_comments",
            "desk_ticket_history",
        },
    )


def test_the_status_moves_only_along_the_allowed_transitions(client, db):
    conversation, _, token = _conversation(db)
    ticket = _ticket_from(client, token, conversation.id)
    url = f"/api/v1/tickets/{ticket['id']}"

    def status(value):
        return client.patch(url, json={"status": value}, headers=_auth(token))

    assert status("new").status_code == 200  # where it is already: nothing changes
    assert status("pending").status_code == 200
    back = status("new")  # nothing leads back to "new"
    assert back.status_code == 409 and back.json()["error"]["field"] == "status"
    assert "can become open, resolved, closed" in back.json()["error"]["message"]
    assert status("resolved").status_code == 200
    assert status("pending").status_code == 409  # reopen first
    assert status("open").status_code == 200
    history = client.get(url, headers=_auth(token)).json()["history"]
    assert [h["detail"]["status"]["to"] for h in history if h["action"] == "updated"] == [
        "pending",
        "resolved",
        "open",
    ]


def test_the_list_filters_by_team_and_a_ticket_names_a_real_customer(client, db):
    conversation, _, token = _conversation(db)
    ticket = _ticket_from(client, token, conversation.id)
    supervisor = _auth(make_token(db, "supervisor"))
    by_team = client.get(f"/api/v1/tickets?team={conversation.team_id}", headers=supervisor)
    assert [t["id"] for t in by_team.json()["items"]] == [ticket["id"]]
    other_team = client.get(f"/api/v1/tickets?team={conversation.team_id + 1}", headers=supervisor)
    assert other_team.json()["items"] == []
    nobody = client.post(
        "/api/v1/tickets",
        json={"title": "发票", "type": "invoice", "customer_id": 987654},
        headers=_auth(token),
    )
    assert nobody.status_code == 404 and nobody.json()["error"]["field"] == "customer_id"
