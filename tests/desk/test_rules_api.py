"""Routing rules over HTTP: managers add and remove them (audited), readers list them in
order, agents may not change them, and a rule added through the API routes the next
conversation (a 高关怀 customer to the senior team)."""

from __future__ import annotations

from omnicx.desk.messages import Sender
from omnicx.governance.audit import AuditFilter, search
from tests.desk.factories import Customers, conversations, make_agent
from tests.factories import append_calls, call, make_token, process


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_rule_added_through_the_api_routes_the_next_conversation(client, db):
    senior, token = make_agent(db, "高级客服", role="senior_agent")
    make_agent(db, "售后服务")
    manager = _auth(make_token(db, "supervisor"))
    teams = {t["name"]: t["id"] for t in client.get("/api/v1/teams", headers=manager).json()}
    added = client.post(
        "/api/v1/routing-rules",
        json={"team_id": teams["高级客服"], "kind": "tag", "value": "高关怀", "position": 10},
        headers=manager,
    )
    assert added.status_code == 201, added.text
    client.post(
        "/api/v1/routing-rules",
        json={"team_id": teams["售后服务"], "kind": "always", "position": 100},
        headers=manager,
    )
    listed = client.get("/api/v1/routing-rules", headers=_auth(token)).json()
    assert [(r["kind"], r["position"]) for r in listed] == [("tag", 10), ("always", 100)]
    people = Customers(db)
    append_calls(
        db, people.source_id, [call("identify", 0, userId="vip-1", traits={"tags": ["高关怀"]})]
    )
    people.write("第三次报修了！", thread="vip-1", sender=Sender(user_id="vip-1"), minutes=1)
    process(db)
    [conversation] = conversations(db)
    assert conversation.team_id == teams["高级客服"] and conversation.assignee_id == senior
    with db.read() as session:
        actions = [e.action for e in search(session, AuditFilter(action="desk.routing_rule."))]
    assert actions.count("desk.routing_rule.create") == 2


def test_only_managers_change_rules_and_bad_ones_are_4xx(client, db):
    _, token = make_agent(db, "售后服务")
    manager = _auth(make_token(db, "supervisor"))
    team_id = client.get("/api/v1/teams", headers=manager).json()[0]["id"]
    body = {"team_id": team_id, "kind": "always"}
    assert client.post("/api/v1/routing-rules", json=body, headers=_auth(token)).status_code == 403
    for wrong, status in (
        ({"team_id": team_id, "kind": "tag"}, 400),  # a tag rule names its tag
        ({"team_id": team_id, "kind": "segment"}, 422),
        ({"team_id": 999_999, "kind": "always"}, 404),
    ):
        answer = client.post("/api/v1/routing-rules", json=wrong, headers=manager)
        assert answer.status_code == status, answer.text
    made = client.post("/api/v1/routing-rules", json=body, headers=manager).json()
    assert (
        client.delete(f"/api/v1/routing-rules/{made['id']}", headers=_auth(token)).status_code
        == 403
    )
    assert client.delete(f"/api/v1/routing-rules/{made['id']}", headers=manager).status_code == 204
    assert client.delete(f"/api/v1/routing-rules/{made['id']}", headers=manager).status_code == 404
