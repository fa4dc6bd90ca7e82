"""Message-text search: customers' messages, replies and notes are found by Chinese
character pairs and Latin words through keyed hashes (the index holds no text); the
terms follow a merge's fold, go with an erasure, and ``omnicx desk reindex-messages``
rebuilds them. SQLite and
PostgreSQL, through the API."""

from __future__ import annotations

from sqlalchemy import delete, func, select, text
from typer.testing import CliRunner

from omnicx.cli.main import app
from omnicx.desk.messages import Sender
from omnicx.desk.models import MessageTerm
from omnicx.desk.search import MAX_TERMS
from tests.core.test_migrations import empty_database  # noqa: F401  (fixture)
from tests.desk.factories import Customers, conversations, make_agent, make_rule, messages
from tests.desk.test_migration import check_revision
from tests.factories import append_calls, call, make_token, process


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def found(client, token: str, q: str) -> list[int]:
    answer = client.get("/api/v1/conversations", params={"q": q}, headers=_auth(token))
    assert answer.status_code == 200, answer.text
    return [c["id"] for c in answer.json()["items"]]


def _two_conversations(db):
    people = Customers(db)
    people.write("空调不制冷了，外机一直响", thread="s-1", sender=Sender(anonymous_id="s-1"))
    people.write(
        "Invoice for order 20261207 please", thread="s-2", sender=Sender(anonymous_id="s-2")
    )
    process(db)
    return people, [c.id for c in conversations(db)]


def term_count(db, conversation_id: int | None = None) -> int:
    with db.read() as session:
        stmt = select(func.count()).select_from(MessageTerm)
        if conversation_id is not None:
            stmt = stmt.where(MessageTerm.conversation_id == conversation_id)
        return int(session.scalar(stmt) or 0)


def test_chinese_pairs_and_latin_words_find_their_conversation(client, db):
    _, (cooling, invoice) = _two_conversations(db)
    admin = make_token(db, "admin")
    assert found(client, admin, "不制冷") == [cooling]
    assert found(client, admin, "响 外机") == [cooling]  # a lone character is no term
    assert found(client, admin, "INVOICE") == [invoice]  # case folds
    assert found(client, admin, "２０２６１２０７") == [invoice]  # full-width digits fold
    # Every term in one message: 制冷 is in one, invoice in the other.
    assert found(client, admin, "制冷 invoice") == []
    assert found(client, admin, "冰箱") == []


def test_a_query_with_nothing_to_look_up_is_a_clear_400(client, db):
    _two_conversations(db)
    answer = client.get("/api/v1/conversations", params={"q": "冷"}, headers=_auth(make_token(db)))
    assert answer.status_code == 400
    assert answer.json()["error"]["field"] == "q"
    assert "two characters" in answer.json()["error"]["message"]


def test_replies_and_private_notes_are_found_and_the_index_holds_no_text(client, db):
    _, (cooling, _) = _two_conversations(db)
    admin = make_token(db, "admin")
    for kind, words in (("reply", "师傅明天上门检修"), ("note", "疑似压缩机故障")):
        sent = client.post(
            f"/api/v1/conversations/{cooling}/messages",
            json={"kind": kind, "text": words},
            headers=_auth(admin),
        )
        assert sent.status_code == 201, sent.text
    assert found(client, admin, "上门检修") == [cooling]
    assert found(client, admin, "压缩机") == [cooling]
    with db.read() as session:
        rows = session.execute(text("SELECT term_hash FROM desk_message_terms")).all()
    assert rows and all(len(bytes(r[0])) == 20 for r in rows)
    assert not any("压缩".encode() in bytes(r[0]) for r in rows)


def test_a_long_message_is_indexed_by_its_first_terms(client, db):
    people = Customers(db)
    long_text = " ".join(f"word{n:04d}" for n in range(MAX_TERMS + 50))
    people.write(long_text, thread="long", sender=Sender(anonymous_id="long"))
    process(db)
    [conversation] = conversations(db)
    assert term_count(db, conversation.id) == MAX_TERMS
    admin = make_token(db, "admin")
    assert found(client, admin, "word0001") == [conversation.id]
    assert found(client, admin, f"word{MAX_TERMS + 10:04d}") == []


def test_the_search_stays_within_what_the_agent_may_see(client, db):
    _, mine = make_agent(db, "售后服务")
    make_agent(db, "发票组")
    make_rule(db, "售后服务", kind="tag", value="售后")
    make_rule(db, "发票组")
    people = Customers(db)
    append_calls(db, people.source_id, [call("identify", userId="c-1", traits={"tags": ["售后"]})])
    people.write("洗衣机漏水了", thread="c-1", sender=Sender(user_id="c-1"), minutes=1)
    people.write("洗衣机发票抬头写错了", thread="c-2", sender=Sender(user_id="c-2"), minutes=2)
    process(db)
    by_thread = {c.thread: c.id for c in conversations(db)}
    assert found(client, mine, "洗衣机") == [by_thread["c-1"]]
    assert sorted(found(client, make_token(db, "admin"), "洗衣机")) == sorted(by_thread.values())


def test_the_terms_follow_messages_folded_by_a_merge(client, db):
    people = Customers(db)
    people.write("热水器打不着火", thread="w-8", sender=Sender(anonymous_id="a-8"))
    people.write("还是打不着火", thread="w-8", sender=Sender(user_id="u-8"), minutes=1)
    process(db)
    first, second = (c.id for c in conversations(db))
    append_calls(db, people.source_id, [call("identify", 2, userId="u-8", anonymousId="a-8")])
    process(db)
    assert {c.status for c in conversations(db) if c.id == second} == {"resolved"}
    assert term_count(db, second) == 0 and term_count(db, first) > 0
    assert found(client, make_token(db, "admin"), "还是") == [first]


def test_erasure_removes_the_text_and_its_terms_and_keeps_others(client, db):
    _, (cooling, invoice) = _two_conversations(db)
    admin = make_token(db, "admin")
    client.post(
        f"/api/v1/conversations/{cooling}/messages",
        json={"kind": "note", "text": "客户说外机噪音很大"},
        headers=_auth(admin),
    )
    customer_id = next(c.customer_id for c in conversations(db) if c.id == cooling)
    body = {"kind": "erase", "customer_id": customer_id, "reason": "本人申请删除"}
    erased = client.post("/api/v1/privacy/requests", json=body, headers=_auth(admin))
    assert erased.status_code == 201, erased.text
    assert erased.json()["result"]["counts"]["desk_messages"] == 2
    assert term_count(db, cooling) == 0 and term_count(db, invoice) > 0
    assert [m.text for m in messages(db, cooling)] == ["", ""]
    assert [c.thread for c in conversations(db) if c.id == cooling] == [f"erased:{cooling}"]
    assert found(client, admin, "外机") == []
    assert found(client, admin, "invoice") == [invoice]


def test_reindex_rebuilds_the_terms_of_stored_messages(client, db):
    _, (cooling, _) = _two_conversations(db)
    before = term_count(db)
    with db.write() as session:
        session.execute(delete(MessageTerm))
    assert found(client, make_token(db, "admin"), "不制冷") == []
    rebuilt = CliRunner().invoke(app, ["desk", "reindex-messages"])
    assert rebuilt.exit_code == 0, rebuilt.output
    assert "2 messages indexed" in rebuilt.output
    assert term_count(db) == before
    assert found(client, make_token(db, "admin"), "不制冷") == [cooling]


def test_migration_0013_creates_the_terms_as_the_model_has_them(empty_database):  # noqa: F811
    check_revision(empty_database, "0013", "0012", {"desk_message_terms"})
