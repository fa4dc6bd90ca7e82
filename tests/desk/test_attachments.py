"""Attachments over the desk API, on SQLite and PostgreSQL: an agent uploads a file to a
conversation, sends it with a reply or a note and downloads it; the bytes are encrypted
at rest; size and type limits answer 413 / 415 with a clear JSON error; row access is the
conversation's; and the files go with the person's export and erasure."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import select, text

from omnicx.core.eventlog.models import EventRow
from omnicx.core.serialization import loads
from omnicx.core.settings import reset_settings
from omnicx.desk.attachments.channel_store import DeskMediaStore
from omnicx.desk.attachments.models import Attachment
from omnicx.desk.messages import Sender
from omnicx.governance.keys import encrypted_columns
from omnicx.governance.models import AuditEntry
from tests.desk import files
from tests.desk.factories import Customers, conversations, make_agent, make_rule, messages
from tests.factories import append_calls, call, make_token, process


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _conversation(db, team: str = "售后服务") -> tuple[int, str]:
    """A customer's conversation routed to ``team``: (its id, the token of its agent)."""
    _, token = make_agent(db, team)
    make_rule(db, team)
    Customers(db).write("空调不制冷了，发票也没收到", thread="c-1", sender=Sender(user_id="c-1"))
    process(db)
    [conversation] = conversations(db)
    return conversation.id, token


def _upload(client, token: str, conversation_id: int, name: str, data: bytes, declared: str):
    return client.post(
        f"/api/v1/conversations/{conversation_id}/attachments",
        files={"file": (name, data, declared)},
        headers=_auth(token),
    )


def test_an_agent_uploads_a_file_and_downloads_it_back(client, db):
    conversation_id, token = _conversation(db)
    image = files.png()
    sent = _upload(client, token, conversation_id, "空调铭牌.png", image, "image/png")
    assert sent.status_code == 201, sent.text
    meta = sent.json()
    assert meta["name"] == "空调铭牌.png" and meta["type"] == "image/png"
    assert meta["declared_type"] == "image/png" and meta["size"] == len(image)
    assert meta["sha256"] == hashlib.sha256(image).hexdigest()
    assert meta["conversation_id"] == conversation_id and meta["uploaded_by"] == "agent"

    got = client.get(f"/api/v1/attachments/{meta['id']}", headers=_auth(token))
    assert got.status_code == 200
    assert got.content == image
    assert got.headers["content-type"] == "image/png"
    assert got.headers["x-content-type-options"] == "nosniff"
    disposition = got.headers["content-disposition"]
    assert disposition.startswith("attachment;")
    assert "filename*=UTF-8''%E7%A9%BA%E8%B0%83%E9%93%AD%E7%89%8C.png" in disposition
    with db.read() as session:
        details = session.scalars(
            select(AuditEntry.detail).where(AuditEntry.action == "customer.view")
        ).all()
    assert {"via": "desk.attachment", "attachment_id": meta["id"]}.items() <= next(
        loads(d) for d in details if loads(d).get("via") == "desk.attachment"
    ).items()


def test_the_bytes_and_the_name_are_encrypted_at_rest(client, db):
    conversation_id, token = _conversation(db)
    secret = "客户身份证号 110101199003077777".encode()
    sent = _upload(client, token, conversation_id, "张伟身份证.txt", secret, "text/plain")
    assert sent.status_code == 201, sent.text
    with db.engine.connect() as conn:
        content, name, key = conn.execute(
            text("SELECT content, name, content_key FROM desk_attachments")
        ).one()
    assert secret not in bytes(content) and b"110101199003077777" not in bytes(content)
    assert "张伟" not in name and name.startswith("v1.")
    assert key.startswith("v1.")  # the file's own key, sealed by the key ring
    # Key rotation finds the file's key (and rewraps 32 bytes, not the file).
    labels = {c.label for c in encrypted_columns()}
    assert {"desk_attachments.content_key", "desk_attachments.name"} <= labels
    assert "desk_attachments.content" not in labels


def test_over_the_size_limit_is_413_and_nothing_is_stored(client, db, monkeypatch):
    conversation_id, token = _conversation(db)
    monkeypatch.setenv("OMNICX_ATTACHMENT_MAX_BYTES", "1024")
    reset_settings()
    big = _upload(client, token, conversation_id, "发票.pdf", files.pdf("x" * 3000), "")
    assert big.status_code == 413, big.text
    assert big.json()["error"]["code"] == "payload_too_large"
    assert big.json()["error"]["message"] == "the file is larger than the 1 KB limit"
    chinese = client.post(
        f"/api/v1/conversations/{conversation_id}/attachments",
        files={"file": ("照片.png", b"x" * 2000, "image/png")},
        headers={**_auth(token), "Accept-Language": "zh-CN"},
    )
    assert chinese.status_code == 413
    assert "文件" in chinese.json()["error"]["message"]
    with db.read() as session:
        assert session.scalars(select(Attachment)).all() == []


@pytest.mark.parametrize(
    ("name", "data", "declared"),
    [
        ("发票.png", files.windows_program(), "image/png"),  # a program dressed as an image
        ("资料.zip", files.zip_archive(), "application/zip"),
        ("随机.bin", bytes(range(256)) * 4, "application/octet-stream"),
    ],
)
def test_types_not_allowed_are_415(client, db, name, data, declared):
    conversation_id, token = _conversation(db)
    refused = _upload(client, token, conversation_id, name, data, declared)
    assert refused.status_code == 415, refused.text
    error = refused.json()["error"]
    assert error["code"] == "unsupported_media_type" and error["field"] == "file"
    with db.read() as session:
        assert session.scalars(select(Attachment)).all() == []


def test_the_type_is_what_the_bytes_are_not_what_the_name_says(client, db):
    conversation_id, token = _conversation(db)
    as_pdf = _upload(client, token, conversation_id, "发票.png", files.pdf(), "image/png")
    assert as_pdf.status_code == 201, as_pdf.text
    assert as_pdf.json()["type"] == "application/pdf"
    assert as_pdf.json()["declared_type"] == "image/png"
    assert as_pdf.json()["name"] == "发票.png.pdf"
    as_text = _upload(
        client, token, conversation_id, "说明.png", "请上门维修".encode(), "image/png"
    )
    assert as_text.json()["type"] == "text/plain; charset=utf-8"
    assert as_text.json()["name"] == "说明.png.txt"
    word = _upload(client, token, conversation_id, "../../维修单.docx", files.docx(), "")
    assert word.json()["type"].endswith("wordprocessingml.document")
    assert word.json()["name"] == "维修单.docx"
    got = client.get(f"/api/v1/attachments/{as_text.json()['id']}", headers=_auth(token))
    assert got.headers["content-type"] == "text/plain; charset=utf-8"


def test_bad_uploads_are_clear_4xx(client, db):
    conversation_id, token = _conversation(db)
    path = f"/api/v1/conversations/{conversation_id}/attachments"
    empty = _upload(client, token, conversation_id, "空.txt", b"", "text/plain")
    assert empty.status_code == 400 and empty.json()["error"]["field"] == "file"
    as_json = client.post(path, json={"file": "x"}, headers=_auth(token))
    assert as_json.status_code == 415
    no_file = client.post(
        path, data={"note": "x"}, files={"other": ("a.txt", b"a")}, headers=_auth(token)
    )
    assert no_file.status_code == 400
    two = client.post(
        path,
        files=[
            ("file", ("a.txt", b"one", "text/plain")),
            ("file", ("b.txt", b"two", "text/plain")),
        ],
        headers=_auth(token),
    )
    assert two.status_code == 400
    missing = client.get("/api/v1/attachments/999999", headers=_auth(token))
    assert missing.status_code == 404


def test_another_teams_agent_gets_404_and_stores_nothing(client, db):
    conversation_id, token = _conversation(db)
    _, outsider = make_agent(db, "销售部")
    sent = _upload(client, token, conversation_id, "铭牌.png", files.png(), "image/png")
    attachment_id = sent.json()["id"]
    refused = _upload(client, outsider, conversation_id, "铭牌.png", files.png(), "image/png")
    assert refused.status_code == 404
    hidden = client.get(f"/api/v1/attachments/{attachment_id}", headers=_auth(outsider))
    assert hidden.status_code == 404
    # Not "no conversation N": which conversation holds the file is not told.
    assert hidden.json()["error"]["message"] == f"no attachment {attachment_id}"
    supervisor = make_token(db, "supervisor")
    seen = client.get(f"/api/v1/attachments/{attachment_id}", headers=_auth(supervisor))
    assert seen.status_code == 200 and seen.content == files.png()
    analyst = make_token(db, "analyst")
    assert (
        client.get(f"/api/v1/attachments/{attachment_id}", headers=_auth(analyst)).status_code
        == 403
    )
    with db.read() as session:
        assert len(session.scalars(select(Attachment)).all()) == 1


def test_a_reply_and_a_note_carry_their_files(client, db):
    conversation_id, token = _conversation(db)
    invoice = _upload(client, token, conversation_id, "发票.pdf", files.pdf(), "application/pdf")
    photo = _upload(client, token, conversation_id, "铭牌.png", files.png(), "image/png")
    invoice_id, photo_id = invoice.json()["id"], photo.json()["id"]
    path = f"/api/v1/conversations/{conversation_id}/messages"
    reply = client.post(
        path,
        json={"text": "您好，发票请查收。", "attachment_ids": [invoice_id]},
        headers=_auth(token),
    )
    assert reply.status_code == 201, reply.text
    expected = {"id": invoice_id, "name": "发票.pdf", "type": "application/pdf"}
    assert reply.json()["attachments"] == [{**expected, "size": len(files.pdf())}]
    note = client.post(
        path, json={"kind": "note", "text": "", "attachment_ids": [photo_id]}, headers=_auth(token)
    )
    assert note.status_code == 201, note.text
    assert [a["id"] for a in note.json()["attachments"]] == [photo_id]

    stored = messages(db, conversation_id)
    assert [loads(m.attachments) for m in stored[1:]] == [
        reply.json()["attachments"],
        note.json()["attachments"],
    ]
    with db.read() as session:
        sent = session.scalars(
            select(EventRow.payload).where(EventRow.name == "Message Sent")
        ).one()
    assert loads(sent)["properties"]["attachments"] == reply.json()["attachments"]


def test_only_files_of_the_conversation_may_be_sent(client, db):
    conversation_id, token = _conversation(db)
    Customers(db).write("洗衣机漏水", thread="c-2", sender=Sender(user_id="c-2"))
    process(db)
    other_id = max(c.id for c in conversations(db))
    foreign = _upload(client, token, other_id, "别人的.png", files.png(), "image/png")
    assert foreign.status_code == 201
    path = f"/api/v1/conversations/{conversation_id}/messages"
    for ids in ([foreign.json()["id"]], [987654]):
        refused = client.post(
            path, json={"text": "请查收", "attachment_ids": ids}, headers=_auth(token)
        )
        assert refused.status_code == 400, refused.text
        assert refused.json()["error"]["field"] == "attachment_ids"
    assert len(messages(db, conversation_id)) == 1


def test_files_are_exported_as_metadata_and_erased_with_the_person(client, db):
    conversation_id, token = _conversation(db)
    sent = _upload(client, token, conversation_id, "发票.pdf", files.pdf(), "application/pdf")
    attachment_id = sent.json()["id"]
    [conversation] = conversations(db)
    admin = _auth(make_token(db, "admin"))
    customer_id = conversation.customer_id

    body = {"kind": "export", "customer_id": customer_id, "reason": "本人申请导出"}
    exported = client.post("/api/v1/privacy/requests", json=body, headers=admin)
    assert exported.status_code == 201, exported.text
    bundle = client.get(f"/api/v1/privacy/requests/{exported.json()['id']}/bundle", headers=admin)
    [listed] = bundle.json()["data"]["desk_attachments"]
    assert listed["id"] == attachment_id and listed["name"] == "发票.pdf"
    assert listed["size"] == len(files.pdf()) and "content" not in listed

    body = {"kind": "erase", "customer_id": customer_id, "reason": "本人申请删除"}
    erased = client.post("/api/v1/privacy/requests", json=body, headers=admin)
    assert erased.status_code == 201, erased.text
    assert erased.json()["result"]["counts"]["desk_attachments"] == 1
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM desk_attachments")).scalar() == 0
    gone = client.get(f"/api/v1/attachments/{attachment_id}", headers=admin)
    assert gone.status_code == 404


def test_a_channels_file_joins_its_conversation_and_follows_a_fold(db):
    """Media a channel stores after the desk placed its message (WeChat fetches it later)
    joins that conversation at once; storing it again for the same message is a no-op;
    and when two conversations of one thread fold into one, the file moves along."""
    people = Customers(db)
    people.write("平板上问的", thread="w-1", sender=Sender(anonymous_id="tablet"))
    second = people.write(
        "手机上补一张照片", thread="w-1", sender=Sender(anonymous_id="phone"), minutes=1
    )
    process(db)
    first_id, second_id = sorted(c.id for c in conversations(db))
    message_id = second["properties"]["message_id"]
    store = DeskMediaStore()
    with db.write() as session:
        stored = store.store(
            session,
            files.png(),
            name="照片.png",
            declared_type="image/png",
            channel="webchat",
            thread="w-1",
            message_id=message_id,
        )
        again = store.store(
            session,
            files.png(),
            name="照片.png",
            declared_type="image/png",
            channel="webchat",
            thread="w-1",
            message_id=message_id,
        )
    assert again == stored and stored.metadata()["type"] == "image/png"
    with db.read() as session:
        [row] = session.scalars(select(Attachment)).all()
        assert (row.conversation_id, row.uploaded_by) == (second_id, "customer")

    append_calls(
        db,
        people.source_id,
        [
            call("identify", 2, anonymousId="tablet", traits={"email": "li.lei@example.cn"}),
            call("identify", 3, anonymousId="phone", traits={"email": "li.lei@example.cn"}),
        ],
    )
    process(db)
    with db.read() as session:
        assert session.scalars(select(Attachment.conversation_id)).all() == [first_id]
        assert store.read(session, stored.id).data == files.png()


def test_a_files_name_is_masked_like_message_text(client, db):
    conversation_id, token = _conversation(db)
    sent = _upload(client, token, conversation_id, "13800138000.png", files.png(), "image/png")
    note = {"kind": "note", "text": "客户发来的", "attachment_ids": [sent.json()["id"]]}
    path = f"/api/v1/conversations/{conversation_id}/messages"
    assert client.post(path, json=note, headers=_auth(token)).status_code == 201
    shown = client.get(path, headers=_auth(token)).json()["items"][-1]["attachments"][0]
    assert shown["name"] != "13800138000.png" and "****" in shown["name"]
    admin = _auth(make_token(db, "admin"))
    plain = client.get(path, headers=admin).json()["items"][-1]["attachments"][0]
    assert plain["name"] == "13800138000.png"
