"""Pages and API errors in the reader's language: the user's setting, else ``?lang=`` (a
cookie), else Accept-Language, else zh-CN; dates, numbers and money per locale."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from omnicx.web.app import create_app
from tests.factories import make_token
from tests.governance.masking_people import csrf_of, seed_person, sign_in_as

ZH = {"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"}
EN = {"Accept-Language": "en-US,en;q=0.9"}


def html_lang(html: str) -> str:
    match = re.search(r'<html lang="([^"]+)">', html)
    assert match, "no <html lang>"
    return match.group(1)


def test_sign_in_page_follows_accept_language(client):
    chinese = client.get("/login", headers=ZH)
    assert html_lang(chinese.text) == "zh-CN"
    assert "<h1>登录</h1>" in chinese.text and "密码" in chinese.text
    english = client.get("/login", headers=EN)
    assert html_lang(english.text) == "en"
    assert "<h1>Sign in</h1>" in english.text and "Password" in english.text


def test_no_header_means_chinese_and_q_values_are_honoured(settings):
    with TestClient(create_app(settings, background=False)) as bare:
        assert html_lang(bare.get("/login").text) == "zh-CN"
        preferred = bare.get("/login", headers={"Accept-Language": "fr, zh;q=0.3, en;q=0.8"})
        assert html_lang(preferred.text) == "en"
        traditional = bare.get("/login", headers={"Accept-Language": "zh-TW"})
        assert html_lang(traditional.text) == "zh-CN"  # Simplified reads better than English


def test_lang_parameter_overrides_the_header_and_is_remembered(client):
    switched = client.get("/login?lang=zh-CN", headers=EN)
    assert html_lang(switched.text) == "zh-CN"
    assert switched.cookies.get("omnicx_lang") == "zh-CN"
    # The cookie now speaks for the browser, whatever it sends.
    assert html_lang(client.get("/login", headers=EN).text) == "zh-CN"
    assert html_lang(client.get("/login?lang=en", headers=ZH).text) == "en"


def test_error_pages_are_translated(client):
    browser = {"Accept": "text/html"} | ZH
    missing = client.get("/no/such/page", headers=browser)
    assert missing.status_code == 404
    assert "页面不存在" in missing.text and "/no/such/page 这个页面不存在" in missing.text


def test_the_users_setting_wins_over_the_header(client, db):
    sign_in_as(client, db, "admin")
    account = client.get("/account", headers=ZH)
    assert html_lang(account.text) == "zh-CN" and "我的账户" in account.text
    chosen = client.post(
        "/account/language",
        data={"language": "en", "next": "/account", "csrf": csrf_of(account.text)},
        headers=ZH,
        follow_redirects=False,
    )
    assert chosen.status_code == 303 and chosen.headers["location"] == "/account"
    page = client.get("/account", headers=ZH)
    assert html_lang(page.text) == "en" and "Your account" in page.text
    assert html_lang(client.get("/?lang=zh-CN", headers=ZH).text) == "en"
    # Back to "as my browser asks": the header decides again.
    client.post("/account/language", data={"language": "", "csrf": csrf_of(page.text)})
    assert html_lang(client.get("/account", headers=ZH).text) == "zh-CN"


def test_an_unknown_language_is_refused(client, db):
    sign_in_as(client, db, "admin")
    page = client.get("/account")
    refused = client.post(
        "/account/language", data={"language": "klingon", "csrf": csrf_of(page.text)}
    )
    assert refused.status_code == 400
    assert refused.json()["error"]["field"] == "language"


def test_customer_page_dates_and_money_per_locale(client, db):
    customer_id = seed_person(client, db)
    sign_in_as(client, db, "admin")
    chinese = client.get(f"/customers/{customer_id}", headers=ZH).text
    # First seen 2026-01-01T08:00Z is 16:00 in Shanghai; orders are 100.00 CNY.
    assert "首次出现于 2026年1月1日" in chinese
    assert "¥100.00" in chinese and "CN¥" not in chinese
    assert "订单" in chinese and "时间线" in chinese
    client.post(
        "/account/language",
        data={"language": "en", "csrf": csrf_of(chinese)},
        follow_redirects=False,
    )
    english = client.get(f"/customers/{customer_id}", headers=ZH).text
    assert "first seen Jan 1, 2026" in english
    assert "CN¥100.00" in english and "Orders" in english


def test_api_errors_speak_the_callers_language(client, db):
    token = {"Authorization": f"Bearer {make_token(db)}"}
    chinese = client.get("/api/v1/customers/987654", headers=token | ZH)
    assert chinese.status_code == 404
    error = chinese.json()["error"]
    assert error["code"] == "not_found" and error["message"] == "没有客户 987654"
    english = client.get("/api/v1/customers/987654", headers=token | EN).json()["error"]
    assert english["code"] == "not_found" and english["message"] == "no customer 987654"


def test_validation_errors_get_a_translated_summary(client, db):
    token = {"Authorization": f"Bearer {make_token(db)}"}
    chinese = client.get("/api/v1/customers/not-a-number", headers=token | ZH)
    assert chinese.status_code == 422
    body = chinese.json()
    assert body["error"]["code"] == "validation_failed"
    assert body["error"]["message"].startswith("customer_id：")
    assert body["errors"], "the detail for programs stays"


def test_the_anonymous_switch_keeps_the_address(client):
    page = client.get("/login?next=/analytics", headers=ZH).text
    assert 'href="?next=%2Fanalytics&amp;lang=en"' in page


def test_every_page_renders_in_both_languages_with_real_data(client, db):
    customer_id = seed_person(client, db)
    sign_in_as(client, db, "admin")
    account = client.get("/account").text
    # A privacy request and a retention dry run, so their tables have rows to format.
    recorded = client.post(
        "/admin/privacy/requests",
        data={
            "kind": "export",
            "customer_id": customer_id,
            "reason": "客户来电要求导出",
            "csrf": csrf_of(account),
        },
    )
    assert recorded.status_code == 200, recorded.text
    ran = client.post(
        "/admin/privacy/retention", data={"dry_run": "true", "csrf": csrf_of(account)}
    )
    assert ran.status_code == 200, ran.text
    pages = [
        "/",
        "/customers",
        f"/customers/{customer_id}",
        f"/customers/{customer_id}/consent",
        "/analytics",
        "/admin/audit",
        "/admin/users",
        "/admin/privacy",
        "/account",
    ]
    for headers, lang in ((ZH, "zh-CN"), (EN, "en")):
        for path in pages:
            page = client.get(path, headers=headers)
            assert page.status_code == 200, (path, lang, page.text[:300])
            assert html_lang(page.text) == lang, path
    privacy = client.get("/admin/privacy", headers=ZH).text
    assert "数据保留任务" not in privacy  # the flash message was for the post only
    assert "试运行" in privacy and "导出" in privacy and "已完成" in privacy
    audit = client.get("/admin/audit", headers=ZH).text
    assert "审计日志" in audit and "年" in audit  # dates formatted for zh-CN
