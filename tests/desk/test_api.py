"""The desk API over HTTP: masking by role, replies on the timeline, filters, teams,
presence, and clear 4xx JSON for bad input."""

from __future__ import annotations

from omnicx.desk.messages import Sender
from tests.desk.factories import Customers, conversations, make_agent, make_rule
from tests.factories import append_calls, call, make_token, process


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _one_conversation(db, team: str = "售后服务"):
    agent, token = make_agent(db, team)
    make_rule(db, team)
    people = Customers(db)
    append_calls(
        db,
        people.source_id,
        [
            call(
                "identify",
                0,
                userId="c-1",
                traits={"name": "张伟", "phone": "13800138000", "email": "zhang.wei@example.com"},
            )
        ],
    )
    people.write(
        "我的电话是13800138000，空调漏水", thread="c-1", sender=Sender(user_id="c-1"), minutes=1
    )
    process(db)
    [conversation] = conversations(db)
    return conversation, agent, token


def test_agent_sees_customer_fields_masked_and_admin_in_plain(client, db):
    conversation, _, token = _one_conversation(db)
    seen = client.get(f"/api/v1/conversations/{conversation.id}", headers=_auth(token)).json()
    assert seen["customer"]["name"] and seen["customer"]["phone"] != "13800138000"
    assert "****" in seen["customer"]["phone"]
    text = client.get(
        f"/api/v1/conversations/{conversation.id}/messages", headers=_auth(token)
    ).json()["items"][0]["text"]
    assert "13800138000" not in text and "空调漏水" in text
    admin = make_token(db, "admin")
    plain = client.get(f"/api/v1/conversations/{conversation.id}", headers=_auth(admin)).json()
    assert plain["customer"]["phone"] == "13800138000"


def test_a_thread_that_is_a_phone_number_is_masked_like_text(client, db):
    _, token = make_agent(db, "售后服务")
    make_rule(db, "售后服务")
    Customers(db).write(
        "退订", channel="sms", thread="+8613800138000", sender=Sender(anonymous_id="sms:ab12")
    )
    process(db)
    [conversation] = conversations(db)
    listed = client.get("/api/v1/conversations", headers=_auth(token)).json()["items"]
    one = client.get(f"/api/v1/conversations/{conversation.id}", headers=_auth(token)).json()
    for seen in (listed[0], one):
        assert "13800138000" not in seen["thread"] and "****" in seen["thread"]
    admin = make_token(db, "admin")
    plain = client.get(f"/api/v1/conversations/{conversation.id}", headers=_auth(admin)).json()
    assert plain["thread"] == "+8613800138000"


def test_reply_through_the_api_shows_in_the_customer_timeline(client, db):
    conversation, agent, token = _one_conversation(db)
    sent = client.post(
        f"/api/v1/conversations/{conversation.id}/messages",
        json={"text": "您好，师傅明天上门。"},
        headers=_auth(token),
    )
    assert sent.status_code == 201, sent.text
    assert sent.json()["delivery"] == "queued" and sent.json()["author_user_id"] == agent
    process(db)
    admin = make_token(db, "admin")
    timeline = client.get(
        f"/api/v1/customers/{conversation.customer_id}/timeline", headers=_auth(admin)
    ).json()
    names = [item["name"] for item in timeline["items"]]
    assert "Message Sent" in names and "Message Received" in names


def test_filters_and_paging(client, db):
    _, token = make_agent(db, "售后服务", capacity=2)
    make_rule(db, "售后服务")
    people = Customers(db)
    for n in range(4):
        people.write("咨询", thread=f"f-{n}", sender=Sender(anonymous_id=f"f-{n}"), minutes=n)
    people.write(
        "咨询",
        channel="sms",
        thread="+8613700137000",
        sender=Sender(phone="13700137000"),
        minutes=9,
    )
    process(db)
    get = lambda **q: client.get("/api/v1/conversations", params=q, headers=_auth(token))  # noqa: E731
    assert len(get(view="mine").json()["items"]) == 2
    assert len(get(view="unassigned").json()["items"]) == 3
    assert [c["channel"] for c in get(channel="sms").json()["items"]] == ["sms"]
    first = get(limit=2).json()
    second = get(limit=2, cursor=first["next_cursor"]).json()
    third = get(limit=2, cursor=second["next_cursor"]).json()
    ids = [c["id"] for page in (first, second, third) for c in page["items"]]
    assert len(ids) == len(set(ids)) == 5 and third["next_cursor"] is None
    labelled = ids[0]
    admin = make_token(db, "admin")
    assert (
        client.post(
            f"/api/v1/conversations/{labelled}/labels",
            json={"labels": ["退货", "加急"]},
            headers=_auth(admin),
        ).status_code
        == 200
    )
    assert [c["id"] for c in get(label="退货").json()["items"]] == [labelled]


def test_teams_members_and_presence(client, db):
    admin = make_token(db, "admin")
    created = client.post("/api/v1/teams", json={"name": "高级客服"}, headers=_auth(admin))
    assert created.status_code == 201
    again = client.post("/api/v1/teams", json={"name": "高级客服"}, headers=_auth(admin))
    assert again.status_code == 409 and again.json()["error"]["field"] == "name"
    agent, token = make_agent(db, None, online=False)
    team_id = created.json()["id"]
    members = client.post(
        f"/api/v1/teams/{team_id}/members", json={"user_id": agent}, headers=_auth(admin)
    )
    assert members.status_code == 201 and members.json()[0]["presence"] == "offline"
    presence = client.put(
        "/api/v1/agents/me/presence", json={"presence": "online"}, headers=_auth(token)
    )
    assert presence.status_code == 200 and presence.json()["user_id"] == agent
    teams = client.get("/api/v1/teams", headers=_auth(token)).json()
    assert teams == [{"id": team_id, "name": "高级客服", "description": "", "members": 1}]


def test_bad_input_is_a_clear_4xx(client, db):
    conversation, _, token = _one_conversation(db)
    base = f"/api/v1/conversations/{conversation.id}"
    cases = [
        ("post", f"{base}/status", {"status": "closed"}, 422),
        ("post", f"{base}/snooze", {"until": "2001-01-01T00:00:00Z"}, 400),
        ("post", f"{base}/snooze", {"until": "tomorrow"}, 422),
        ("post", f"{base}/messages", {"text": "   "}, 400),
        ("post", f"{base}/messages", {"text": "a\u0000b"}, 400),
        ("post", f"{base}/labels", {"labels": [""]}, 400),
        ("post", f"{base}/handoff", {"reason": "不是机器人"}, 409),
        ("post", f"{base}/assign", {}, 403),
        ("get", "/api/v1/conversations?cursor=%%%", None, 400),
        ("get", "/api/v1/conversations?view=everything", None, 422),
        ("get", "/api/v1/conversations/999999", None, 404),
        ("post", "/api/v1/teams/999/members", {"user_id": 1}, 403),
    ]
    for method, url, body, status in cases:
        response = client.request(method.upper(), url, json=body, headers=_auth(token))
        assert response.status_code == status, (url, body, response.text)
        assert response.json()["error"]["message"]
    admin = make_token(db, "admin")
    for url, body, status in [
        (f"{base}/assign", {}, 400),
        (f"{base}/assign", {"assignee_id": 424242}, 404),
        ("/api/v1/teams/999/members", {"user_id": 1}, 404),
        ("/api/v1/teams", {"name": ""}, 422),
    ]:
        response = client.post(url, json=body, headers=_auth(admin))
        assert response.status_code == status, (url, body, response.text)
        assert response.json()["error"]["message"]


def test_desk_errors_come_back_in_chinese_when_the_reader_asks(client, db):
    """The client fixture reads English; a Chinese reader gets the same codes and fields
    with the message from the zh-CN catalog: a literal, a msg() with values, and a
    calendar error raised deep in the SLA arithmetic."""
    conversation, _, token = _one_conversation(db)
    chinese = {**_auth(token), "Accept-Language": "zh-CN,zh;q=0.9"}
    past = client.post(
        f"/api/v1/conversations/{conversation.id}/snooze",
        json={"until": "2001-01-01T00:00:00Z"},
        headers=chinese,
    )
    assert past.status_code == 400
    assert past.json()["error"]["message"] == "稍后提醒的时间必须在将来"
    missing = client.get("/api/v1/conversations/999999", headers=chinese)
    assert missing.status_code == 404
    assert missing.json()["error"] == {
        "code": "not_found",
        "message": "没有会话 999999",
        "field": "conversation_id",
    }
    supervisor = {**_auth(make_token(db, "supervisor")), "Accept-Language": "zh-CN"}
    overlapping = {"mon": [["09:00", "12:00"], ["11:00", "18:00"]]}
    calendar = client.post(
        "/api/v1/calendars", json={"name": "上海客服中心", "hours": overlapping}, headers=supervisor
    )
    assert calendar.status_code == 400
    assert calendar.json()["error"]["message"] == "mon 的时间段有重叠"
    assert calendar.json()["error"]["field"] == "hours.mon"
    english = client.get("/api/v1/conversations/999999", headers=_auth(token))
    assert english.json()["error"]["message"] == "no conversation 999999"
