"""Unmatched senders, on SQLite and PostgreSQL: a WeChat follower, an SMS sender and a
web chat visitor no customer had each become a new customer AND an item of the
unmatched queue (with an alert), with the existing customers they may be and why; a
supervisor links one (identity merges them from the log, the conversation follows) or
dismisses it; agents are refused. WeChat callbacks are built and signed by wechatpy,
SMS webhooks signed with Twilio's validator."""

from __future__ import annotations

import time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from omnicx.core.settings import get_settings
from omnicx.governance.models import AuditEntry
from omnicx.identity.service import find_customer_by_identifier
from omnicx.runtime.outbound import make_dispatcher
from omnicx.web.app import create_app
from tests.channels import sms_helpers
from tests.channels.wechat_helpers import APP_ID, create_wechat, post, text_xml
from tests.desk.review.review_helpers import bearer, review_env, webhook_receiver
from tests.factories import make_source, make_token, process

STRANGER = "oUpF8uBkXq2YdT5nN0vRjW9cZs3e"


@pytest.fixture
def hook(settings, monkeypatch):
    with webhook_receiver() as (url, received):
        review_env(monkeypatch, url)
        yield received


@pytest.fixture
def api(hook, db) -> Any:
    english = {"Accept-Language": "en"}
    with TestClient(create_app(get_settings(), background=False), headers=english) as client:
        yield client


def _identify(client, key: str, user_id: str, **traits: str) -> None:
    body = {"type": "identify", "userId": user_id, "messageId": f"crm-{user_id}", "traits": traits}
    assert client.post("/v1/identify", json=body, auth=(key, "")).status_code == 200


def _items(client, headers, status: str = "open") -> list[dict[str, Any]]:
    response = client.get(f"/api/v1/review/unmatched?status={status}", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def test_a_wechat_stranger_is_queued_with_a_suggestion_and_linking_merges(api, db, hook) -> None:
    supervisor = bearer(make_token(db, "supervisor"))
    agent = bearer(make_token(db, "agent"))
    _, crm_key = make_source(db, "crm-members")
    _identify(api, crm_key, "member-0042", name="王小明", phone="13800138000")
    process(db)
    member = find_customer_by_identifier_in(db, "phone", "13800138000")

    chat = create_wechat(db)
    text = "你好，我是会员王小明，手机 138 0013 8000，积分怎么查？"
    assert post(api, chat, text_xml(text, 24680001, openid=STRANGER)).status_code == 200
    process(db)

    stranger = find_customer_by_identifier_in(db, "wechat_openid", STRANGER, APP_ID)
    assert stranger != member  # a new customer: nothing dropped, nothing guessed
    [item] = _items(api, supervisor)
    assert item["customer_id"] == stranger and item["channel"] == "wechat"
    assert item["conversation_id"] is not None and item["status"] == "open"
    [suggestion] = item["suggestions"]
    assert suggestion["customer_id"] == member
    assert [r["code"] for r in suggestion["reasons"]] == ["mentioned_phone"]
    assert "8000" in suggestion["reasons"][0]["value"]
    assert api.get("/api/v1/review/counts", headers=supervisor).json()["unmatched"] == 1

    # The alert's webhook, signed, through the outbox to a real server.
    make_dispatcher(db, get_settings()).dispatch_once()
    [(body, valid, _)] = hook.deliveries
    assert valid and body["type"] == "review.unmatched.opened"
    assert body["customer_id"] == stranger and body["channel"] == "wechat"

    # Agents may neither read nor act.
    assert api.get("/api/v1/review/unmatched", headers=agent).status_code == 403
    url = f"/api/v1/review/unmatched/{item['id']}/link"
    assert api.post(url, json={"customer_id": member}, headers=agent).status_code == 403
    # Bad input is a clear error, nothing changes.
    self_link = api.post(url, json={"customer_id": stranger}, headers=supervisor)
    assert self_link.status_code == 400 and self_link.json()["error"]["field"] == "customer_id"
    nobody = api.post(url, json={"customer_id": 987654}, headers=supervisor)
    assert nobody.status_code == 404

    # Accept the suggestion: identity merges them from the log; the conversation follows.
    linking = api.post(url, json={"customer_id": member, "note": "手机号一致"}, headers=supervisor)
    assert linking.status_code == 202, linking.text
    assert linking.json()["status"] == "linking"
    process(db)
    [done] = _items(api, supervisor, "all")
    assert done["status"] == "linked" and done["target_customer_id"] == member
    assert find_customer_by_identifier_in(db, "wechat_openid", STRANGER, APP_ID) == member
    conversation = api.get(f"/api/v1/conversations/{item['conversation_id']}", headers=supervisor)
    assert conversation.json()["customer_id"] == member
    assert api.get("/api/v1/review/counts", headers=supervisor).json()["unmatched"] == 0
    with db.read() as session:
        actions = list(
            session.scalars(select(AuditEntry.action).where(AuditEntry.action.like("review.%")))
        )
    assert actions == ["review.unmatched.link"]
    # Linked once, not again.
    assert api.post(url, json={"customer_id": member}, headers=supervisor).status_code == 409


def test_an_sms_stranger_suggested_by_email_is_dismissed_as_new(api, db) -> None:
    supervisor = bearer(make_token(db, "supervisor"))
    _, crm_key = make_source(db, "crm-members")
    _identify(api, crm_key, "member-0077", name="李娜", email="lina@omnishop.cn")
    process(db)
    member = find_customer_by_identifier_in(db, "email", "lina@omnishop.cn")

    sms = sms_helpers.create_sms(db)
    form = sms_helpers.text_form("您好，我的邮箱是 LiNa@OmniShop.cn ，订单还没到")
    assert sms_helpers.post(api, sms, form).status_code == 200
    process(db)
    [item] = _items(api, supervisor)
    assert item["channel"] == "sms"
    assert item["suggestions"][0]["customer_id"] == member
    assert item["suggestions"][0]["reasons"][0]["code"] == "mentioned_email"

    url = f"/api/v1/review/unmatched/{item['id']}/dismiss"
    dismissed = api.post(url, json={"note": "同名不同人，新客户"}, headers=supervisor)
    assert dismissed.status_code == 200 and dismissed.json()["status"] == "dismissed"
    assert dismissed.json()["suggestions"] == []
    # The same sender writing again is known now: nothing new in the queue.
    again = sms_helpers.text_form("还在吗？")
    assert sms_helpers.post(api, sms, again).status_code == 200
    process(db)
    assert _items(api, supervisor) == []
    assert len(_items(api, supervisor, "all")) == 1


def test_a_web_chat_visitor_with_a_name_only_is_suggested_by_name(api, db) -> None:
    supervisor = bearer(make_token(db, "supervisor"))
    _, crm_key = make_source(db, "crm-members")
    _identify(api, crm_key, "member-0099", name="欧阳娜娜", phone="13900001111")
    _identify(api, crm_key, "member-0100", name="张伟", phone="13900002222")
    process(db)
    member = find_customer_by_identifier_in(db, "phone", "13900001111")
    # A web chat visitor who gave only a name in the pre-chat form, as the web chat
    # adapter records it (context.traits), and one who gave nothing at all.
    _, chat_key = make_source(db, "webchat-site")
    for n, traits in enumerate(({"name": "欧阳娜娜"}, {})):
        body = {
            "type": "track",
            "event": "Message Received",
            "messageId": f"webchat:v-{n}-{time.time_ns()}",
            "anonymousId": f"visitor-{n}",
            "context": {"channel": "webchat", "traits": traits},
            "properties": {
                "channel": "webchat",
                "thread": f"v-{n}",
                "text": "在吗",
                "message_id": f"v-{n}",
            },
        }
        assert api.post("/v1/track", json=body, auth=(chat_key, "")).status_code == 200
    process(db)
    items = _items(api, supervisor)
    assert len(items) == 2
    named, anonymous = sorted(items, key=lambda i: i["id"])
    assert [s["customer_id"] for s in named["suggestions"]] == [member]
    assert named["suggestions"][0]["reasons"] == [{"code": "same_name", "value": None}]
    assert anonymous["suggestions"] == []


def find_customer_by_identifier_in(db, kind: str, value: str, scope: str = "") -> int:
    with db.read() as session:
        return find_customer_by_identifier(session, kind, value, scope)
