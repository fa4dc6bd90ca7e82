"""The customer list page over HTTP, on SQLite and PostgreSQL: keyset paging newest
first, channel and last-seen filters, one search box (an identifier opens the 360 page, a
name lists and pages its matches), masked for the role, audited, and bad input answered
with a clear 4xx."""

from __future__ import annotations

import re

from omnicx.governance.audit import AuditFilter, detail_of, search
from tests.factories import append_calls, call, make_source, process
from tests.governance.masking_people import sign_in_as

ZH = {"Accept-Language": "zh-CN"}


def rows(html: str) -> list[int]:
    return [int(n) for n in re.findall(r'<tr id="customer-(\d+)"', html)]


def next_link(html: str) -> str | None:
    found = re.search(r'rel="next" href="([^"]+)"', html)
    return found.group(1).replace("&amp;", "&") if found else None


def seed(db) -> None:
    """30 customers called 张伟 (one a day in January, the last five on WeChat), and 李娜."""
    source_id, _ = make_source(db)
    calls = []
    for n in range(30):
        traits = {"name": "张伟", "phone": f"1390000{n:04d}"}
        context = {"channel": "wechat"} if n >= 25 else {}
        calls.append(
            call(
                "identify",
                minutes=n * 24 * 60,
                userId=f"crm-zw-{n}",
                traits=traits,
                context=context,
            )
        )
    calls.append(call("identify", minutes=45 * 24 * 60, userId="crm-ln", traits={"name": "李娜"}))
    append_calls(db, source_id, calls)
    process(db)


def test_the_list_pages_newest_first_and_filters(client, db):
    seed(db)
    sign_in_as(client, db, "agent")
    first = client.get("/customers")
    assert first.status_code == 200
    page_one = rows(first.text)
    assert len(page_one) == 25 and "李*" in first.text  # the newest first, masked
    second = client.get(next_link(first.text) or "")
    page_two = rows(second.text)
    assert len(page_two) == 6 and not set(page_one) & set(page_two)
    assert next_link(second.text) is None and 'rel="first"' in second.text
    wechat = client.get("/customers", params={"channel": "wechat"})
    assert len(rows(wechat.text)) == 5
    # Dates are the site's (Asia/Shanghai): the first ten customers were seen in January.
    january = client.get("/customers", params={"seen_before": "2026-01-11"})
    assert len(rows(january.text)) == 10
    later = client.get(
        "/customers", params={"seen_after": "2026-01-11", "seen_before": "2026-02-01"}
    )
    assert len(rows(later.text)) == 20
    assert "张伟" not in first.text and "13900000001" not in first.text


def test_a_name_search_pages_masked_and_is_audited(client, db):
    seed(db)
    sign_in_as(client, db, "agent")
    found = client.get("/customers", params={"q": "张伟"})
    assert found.status_code == 200
    page_one = rows(found.text)
    assert len(page_one) == 25 and page_one == sorted(page_one, reverse=True)
    assert "张*" in found.text and "张伟" not in found.text.replace('value="张伟"', "")
    assert 'value="张伟"' in found.text  # the search box keeps the query
    more = client.get(next_link(found.text) or "")
    assert len(rows(more.text)) == 5 and not set(rows(more.text)) & set(page_one)
    with db.read() as session:
        entries = [detail_of(e) for e in search(session, AuditFilter(action="customers.list"))]
    assert {"rows": 25, "search": True, "unmasked": []} in entries
    assert all("张伟" not in str(entry) for entry in entries)
    sign_in_as(client, db, "admin")
    plain = client.get("/customers", params={"q": "张伟", "channel": "wechat"})
    assert len(rows(plain.text)) == 5 and ">张伟</a>" in plain.text
    nobody = client.get("/customers", params={"q": "王芳"})
    assert nobody.status_code == 200 and rows(nobody.text) == []
    assert "Nobody matches this search." in nobody.text


def test_an_identifier_opens_the_customers_page(client, db):
    seed(db)
    sign_in_as(client, db, "agent")
    by_phone = client.get("/customers", params={"q": "+86 139 0000 0007"}, follow_redirects=False)
    assert by_phone.status_code == 303
    customer = by_phone.headers["location"]
    assert re.fullmatch(r"/customers/\d+", customer)
    by_user_id = client.get("/customers", params={"q": "crm-zw-7"}, follow_redirects=False)
    assert by_user_id.headers["location"] == customer
    legacy = client.get(
        "/customers", params={"type": "phone", "value": "13900000007"}, follow_redirects=False
    )
    assert legacy.status_code == 303 and legacy.headers["location"] == customer
    missing = client.get("/customers", params={"type": "email", "value": "nobody@example.com"})
    assert missing.status_code == 404 and "no customer has email" in missing.text
    unknown = client.get("/customers/99999999")
    assert unknown.status_code == 404 and 'id="customer-search"' in unknown.text


def test_bad_input_is_a_clear_4xx(client, db):
    seed(db)
    sign_in_as(client, db, "agent")
    date = client.get("/customers", params={"seen_after": "next tuesday"}, headers=ZH)
    assert date.status_code == 400 and "seen_after：不是有效日期" in date.text
    assert client.get("/customers", params={"cursor": "garbage"}).status_code == 400
    assert client.get("/customers", params={"channel": "we chat!"}).status_code == 400
    one = client.get("/customers", params={"q": "张"})
    assert one.status_code == 400 and "two characters of a name" in one.text
    # A search's cursor and a list's are not interchangeable.
    listed = client.get("/customers")
    cursor = re.search(r"cursor=([^\"&]+)", next_link(listed.text) or "")
    assert cursor
    mixed = client.get("/customers", params={"q": "张伟", "cursor": cursor.group(1)})
    assert mixed.status_code == 400
