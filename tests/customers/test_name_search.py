"""The customer list and search: by any identifier, by name through keyed-hash terms
(names stay encrypted), masked per role, paged, audited; the index follows renames,
merges, splits, erasure and replays."""

from __future__ import annotations

from sqlalchemy import text

from omnicx.customers.search import MAX_TERMS
from omnicx.governance.audit import AuditFilter, detail_of, search
from omnicx.governance.blind_index import searchable_terms
from tests.factories import append_calls, call, make_source, make_token, process
from tests.governance.masking_people import MASKED, NAME, seed_person, token_for


def names_of(body):
    return [item["name"] for item in body["items"]]


def ids_of(body):
    return [item["id"] for item in body["items"]]


def identify(user_id, minutes=0, **traits):
    return call("identify", minutes=minutes, userId=user_id, traits=traits)


def terms(text):
    return searchable_terms(text, MAX_TERMS)


def test_names_are_cut_into_words_and_pairs_of_chinese_characters():
    assert terms("欧阳娜娜") == ["欧阳", "阳娜", "娜娜"]
    assert terms("Zhang  Wei") == ["zhang", "wei"]
    assert terms("ＺＨＡＮＧ Wei") == ["zhang", "wei"]  # full-width letters fold
    assert terms("Lily王芳") == ["lily", "王芳"]
    assert terms("张") == [] and terms("——") == []


def test_an_agent_finds_a_customer_by_name_and_sees_it_masked(client, db):
    customer_id = seed_person(client, db)
    body = client.get("/api/v1/customers", params={"q": "伟华"}, headers=token_for(db, "agent"))
    assert body.status_code == 200, body.text
    assert ids_of(body.json()) == [customer_id]
    item = body.json()["items"][0]
    assert item["name"] == MASKED["name"] and item["matched_by"] == "name"
    admin = client.get("/api/v1/customers", params={"q": NAME}, headers=token_for(db, "admin"))
    assert names_of(admin.json()) == [NAME]
    # By identifier too: the phone in another notation, and the email.
    for q in ("13812348000", "zhang.wei@example.com"):
        found = client.get("/api/v1/customers", params={"q": q}, headers=token_for(db, "agent"))
        assert ids_of(found.json()) == [customer_id]
        assert found.json()["items"][0]["matched_by"] == "identifier"


def test_the_index_holds_no_name_in_plain_text(client, db):
    seed_person(client, db)
    with db.read() as session:
        rows = session.execute(text("SELECT term_hash FROM customer_name_terms")).all()
    assert rows
    for (term_hash,) in rows:
        assert "伟华".encode() not in bytes(term_hash) and len(bytes(term_hash)) == 20


def test_a_search_is_audited_without_its_query(client, db):
    seed_person(client, db)
    client.get("/api/v1/customers", params={"q": "伟华"}, headers=token_for(db, "agent"))
    with db.read() as session:
        entries = [
            (detail_of(e), e.target_id)
            for e in search(session, AuditFilter(action="customers.list"))
        ]
    assert entries
    detail, target = entries[0]
    assert detail["rows"] == 1 and detail["search"] is True
    assert "伟华" not in str(detail) and "伟华" not in (target or "")


def test_a_rename_moves_the_customer_to_its_new_name(client, db):
    source_id, _ = make_source(db)
    append_calls(db, source_id, [identify("crm-rename", name="李娜")])
    process(db)
    headers = {"Authorization": f"Bearer {make_token(db)}"}
    assert len(client.get("/api/v1/customers?q=李娜", headers=headers).json()["items"]) == 1
    append_calls(db, source_id, [identify("crm-rename", minutes=5, name="李娜娜")])
    process(db)
    # 李娜 is still a pair inside 李娜娜; 娜娜 is new; the old full name's pairs stay found.
    assert len(client.get("/api/v1/customers?q=娜娜", headers=headers).json()["items"]) == 1
    append_calls(db, source_id, [identify("crm-rename", minutes=10, name="王芳")])
    process(db)
    assert client.get("/api/v1/customers?q=李娜", headers=headers).json()["items"] == []
    assert len(client.get("/api/v1/customers?q=王芳", headers=headers).json()["items"]) == 1


def test_a_merge_leaves_one_customer_under_the_surviving_name(client, db):
    source_id, _ = make_source(db)
    append_calls(
        db,
        source_id,
        [
            call("identify", anonymousId="anon-chen", traits={"name": "陈静"}),
            identify("crm-chen", minutes=1, name="陈静怡"),
            # The same person signs in on the first device: the two customers merge.
            call("identify", minutes=2, anonymousId="anon-chen", userId="crm-chen"),
        ],
    )
    process(db)
    headers = {"Authorization": f"Bearer {make_token(db)}"}
    found = client.get("/api/v1/customers?q=陈静", headers=headers).json()["items"]
    assert len(found) == 1  # the merged-away customer's terms are gone
    with db.read() as session:
        customers = session.execute(text("SELECT count(*) FROM customers")).scalar()
        indexed = session.execute(
            text("SELECT count(DISTINCT customer_id) FROM customer_name_terms")
        ).scalar()
    assert (customers, indexed) == (2, 1)


def test_an_erased_customer_cannot_be_found(client, db):
    customer_id = seed_person(client, db)
    headers = {"Authorization": f"Bearer {make_token(db)}"}
    erased = client.post(
        "/api/v1/privacy/requests",
        json={"kind": "erase", "customer_id": customer_id, "reason": "客户要求删除"},
        headers=headers,
    )
    assert erased.status_code in (200, 201, 202), erased.text
    assert client.get("/api/v1/customers?q=伟华", headers=headers).json()["items"] == []
    with db.read() as session:
        left = session.execute(
            text("SELECT count(*) FROM customer_name_terms WHERE customer_id = :c"),
            {"c": customer_id},
        ).scalar()
    assert left == 0


def test_a_replay_rebuilds_the_index(client, db):
    from omnicx.core.processing.replay import rewind
    from omnicx.runtime.processors import groups_named

    seed_person(client, db)
    with db.read() as session:
        before = session.execute(text("SELECT count(*) FROM customer_name_terms")).scalar()
    with db.write() as session:
        rewind(session, groups_named(["identity"]))
    with db.read() as session:
        assert session.execute(text("SELECT count(*) FROM customer_name_terms")).scalar() == 0
    process(db)
    with db.read() as session:
        assert session.execute(text("SELECT count(*) FROM customer_name_terms")).scalar() == before


def test_the_list_pages_newest_first_and_filters_by_channel(client, db):
    source_id, _ = make_source(db)
    append_calls(
        db,
        source_id,
        [identify(f"crm-page-{n}", minutes=n, name=f"客户{n:02d}号") for n in range(7)]
        + [call(minutes=30, userId="crm-page-3", context={"channel": "wechat"})],
    )
    process(db)
    headers = {"Authorization": f"Bearer {make_token(db)}"}
    seen, cursor = [], None
    while True:
        params = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        body = client.get("/api/v1/customers", params=params, headers=headers).json()
        seen += ids_of(body)
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert len(seen) == 7 == len(set(seen))
    wechat = client.get("/api/v1/customers?channel=wechat", headers=headers).json()
    assert names_of(wechat) == ["客户03号"]
    assert seen[0] == wechat["items"][0]["id"]  # the one seen last comes first


def test_bad_queries_are_clear_400s(client, db):
    headers = {"Authorization": f"Bearer {make_token(db)}"}
    one_char = client.get("/api/v1/customers?q=张", headers=headers)
    assert one_char.status_code == 400
    assert one_char.json()["error"]["field"] == "q"
    cursor = client.get("/api/v1/customers?cursor=not-a-cursor", headers=headers)
    assert cursor.status_code == 400 and cursor.json()["error"]["field"] == "cursor"
    analyst = client.get(
        "/api/v1/customers?q=伟华", headers={"Authorization": f"Bearer {make_token(db, 'analyst')}"}
    )
    assert analyst.status_code == 403


def test_the_commands_search_and_rebuild_the_index(client, db):
    from typer.testing import CliRunner

    from omnicx.cli.main import app

    customer_id = seed_person(client, db)
    with db.write() as session:
        session.execute(text("DELETE FROM customer_name_terms"))
    runner = CliRunner()
    rebuilt = runner.invoke(app, ["customers", "reindex-names"])
    assert rebuilt.exit_code == 0, rebuilt.output
    found = runner.invoke(app, ["customers", "search", "伟华", "--role", "agent"])
    assert found.exit_code == 0, found.output
    assert str(customer_id) in found.stdout and MASKED["name"] in found.stdout
    assert NAME not in found.stdout
    refused = runner.invoke(app, ["customers", "search", "张"])
    assert refused.exit_code == 1 and "two characters" in refused.output


def test_a_page_of_erased_customers_still_leads_on(client, db):
    source_id, _ = make_source(db)
    append_calls(
        db, source_id, [identify(f"crm-erase-{n}", minutes=n, name=f"顾客{n}号") for n in range(3)]
    )
    process(db)
    headers = {"Authorization": f"Bearer {make_token(db)}"}
    newest = client.get("/api/v1/customers?limit=1", headers=headers).json()["items"][0]["id"]
    erased = client.post(
        "/api/v1/privacy/requests",
        json={"kind": "erase", "customer_id": newest, "reason": "客户要求删除"},
        headers=headers,
    )
    assert erased.status_code in (200, 201, 202), erased.text
    first = client.get("/api/v1/customers?limit=1", headers=headers).json()
    assert first["items"] == [] and first["next_cursor"]  # the erased one is left out
    rest = client.get(
        "/api/v1/customers", params={"limit": 5, "cursor": first["next_cursor"]}, headers=headers
    ).json()
    assert len(rest["items"]) == 2 and newest not in [i["id"] for i in rest["items"]]


def test_a_name_search_pages_newest_first_after_the_identifier_match(client, db):
    source_id, _ = make_source(db)
    calls = [
        identify(f"crm-zw-{n}", minutes=n, name="张伟", phone=f"1390000{n:04d}") for n in range(7)
    ]
    calls += [call(minutes=30, userId="crm-zw-2", context={"channel": "wechat"})]
    calls += [identify("crm-other", minutes=40, name="李娜")]
    append_calls(db, source_id, calls)
    process(db)
    headers = {"Authorization": f"Bearer {make_token(db, 'agent')}"}

    def search(**params):
        answer = client.get("/api/v1/customers", params=params, headers=headers)
        assert answer.status_code == 200, answer.text
        return answer.json()

    seen, cursor = [], None
    while True:
        body = search(q="张伟", limit=3, **({"cursor": cursor} if cursor else {}))
        assert len(body["items"]) <= 3 and {i["matched_by"] for i in body["items"]} <= {"name"}
        assert {i["name"] for i in body["items"]} <= {"张*"}  # masked for the agent
        seen += ids_of(body)
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert len(seen) == 7 == len(set(seen)) and seen == sorted(seen, reverse=True)
    # The filters narrow a search too.
    assert len(ids_of(search(q="张伟", channel="wechat"))) == 1
    # An identifier match comes first, once; the name matches page on without it.
    first = search(q="13900000004", limit=1)
    assert [i["matched_by"] for i in first["items"]] == ["identifier"]
    assert first["next_cursor"] is None  # "13900000004" is nobody's name
    # A list cursor is not a search's.
    listed = search(limit=1)
    refused = client.get(
        "/api/v1/customers", params={"q": "张伟", "cursor": listed["next_cursor"]}, headers=headers
    )
    assert refused.status_code == 400 and refused.json()["error"]["field"] == "cursor"
