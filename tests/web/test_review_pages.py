"""The console's review page and its badge, on SQLite and PostgreSQL: a supervisor sees
the open unmatched senders (with masked suggestions) and backfill items, accepts a
suggestion and resolves an item through the page's forms; the badge counts what is
open; agents are turned away; forms without the session's CSRF token are refused."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from omnicx.core.settings import get_settings
from omnicx.governance.service import SYSTEM
from omnicx.governance.users import create_user
from omnicx.web.app import create_app
from tests.channels import sms_helpers
from tests.desk.review.review_helpers import review_env
from tests.factories import make_source, process

PASSWORD = "correct horse battery staple 9"


@pytest.fixture
def page(settings, monkeypatch, db) -> Any:
    review_env(monkeypatch)
    english = {"Accept-Language": "en"}
    with TestClient(create_app(get_settings(), background=False), headers=english) as client:
        yield client


def _person(db, email: str, role: str) -> str:
    with db.write() as session:
        create_user(
            session,
            SYSTEM,
            email=email,
            display_name=email.split("@")[0],
            role=role,
            password=PASSWORD,
        )
    return email


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match
    return match.group(1)


def _sign_in(client, email: str) -> str:
    client.cookies.clear()
    form = client.get("/login")
    signed = client.post(
        "/login",
        data={"email": email, "password": PASSWORD, "csrf": _csrf(form.text), "next": "/"},
        follow_redirects=False,
    )
    assert signed.status_code == 303, signed.text
    return _csrf(client.get("/").text)


def test_review_page_link_resolve_and_badge(page, db) -> None:
    supervisor = _person(db, "lead@corp.cn", "supervisor")
    agent = _person(db, "agent@corp.cn", "agent")
    _, crm_key = make_source(db, "crm-members")
    body = {
        "type": "identify",
        "userId": "member-7",
        "messageId": "crm-7",
        "traits": {"name": "陈晓燕", "email": "xiaoyan@omnishop.cn"},
    }
    assert page.post("/v1/identify", json=body, auth=(crm_key, "")).status_code == 200
    _, cti_key = make_source(db, "cti-centre")
    call = {
        "type": "track",
        "event": "Call Completed",
        "messageId": "cti-1",
        "anonymousId": "c-1",
        "context": {"externalIds": [{"type": "member_id", "id": "M-404-0001"}]},
    }
    assert page.post("/v1/track", json=call, auth=(cti_key, "")).status_code == 200
    sms = sms_helpers.create_sms(db)
    form = sms_helpers.text_form("你好，我是陈晓燕，邮箱 xiaoyan@omnishop.cn")
    assert sms_helpers.post(page, sms, form).status_code == 200
    process(db)

    csrf = _sign_in(page, supervisor)
    home = page.get("/")
    assert 'href="/review"' in home.text and 'hx-get="/review/badge"' in home.text
    badge = page.get("/review/badge")
    assert re.search(r'class="badge review-count"[^>]*>2<', badge.text), badge.text
    chinese = page.get("/review", headers={"Accept-Language": "zh-CN"})
    assert "未匹配的发送人" in chinese.text and "CRM 中不存在的标识" in chinese.text
    assert "消息中写有此邮箱" in chinese.text
    review = page.get("/review")
    assert review.status_code == 200
    unmatched = re.search(r'<tr id="unmatched-(\d+)">(.*?)</tr>', review.text, re.S)
    assert unmatched, review.text
    row = unmatched.group(2)
    assert "wrote this e-mail address" in row and "Accept" in row
    assert "M-404-0001" in review.text or "member_id" in review.text
    backfill = re.search(r'<tr id="backfill-(\d+)">', review.text)
    assert backfill

    # Forms need the session's CSRF token.
    forged = page.post(f"/review/backfill/{backfill.group(1)}/resolve", data={"note": "已补录"})
    assert forged.status_code == 403
    resolved = page.post(
        f"/review/backfill/{backfill.group(1)}/resolve",
        data={"note": "已在CRM补录", "csrf": csrf},
        follow_redirects=False,
    )
    assert resolved.status_code == 303
    member = re.search(r'name="customer_id" value="(\d+)"', row).group(1)
    accepted = page.post(
        f"/review/unmatched/{unmatched.group(1)}/link",
        data={"customer_id": member, "csrf": csrf},
        follow_redirects=False,
    )
    assert accepted.status_code == 303
    process(db)
    after = page.get("/review")
    assert "No unmatched senders." in after.text and "Nothing to backfill." in after.text
    assert page.get("/review/badge").text == ""
    # The member's page: the SMS conversation's customer is theirs, the link on the timeline.
    profile = page.get(f"/customers/{member}")
    assert profile.status_code == 200 and "Linked to this customer by a supervisor" in profile.text
    bad = page.post(
        f"/review/unmatched/{unmatched.group(1)}/link", data={"customer_id": "abc", "csrf": csrf}
    )
    assert bad.status_code == 400 and "customer number" in bad.text

    _sign_in(page, agent)
    assert page.get("/review").status_code == 403
    assert page.get("/review/badge").text == ""
    assert 'href="/review"' not in page.get("/").text
    page.cookies.clear()
    assert page.get("/review/badge").status_code == 401
