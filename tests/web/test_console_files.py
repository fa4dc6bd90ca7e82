"""Files on the conversation page, over HTTP on SQLite and PostgreSQL: an agent picks a
file in the reply box (uploaded at once, CSRF-checked, back as a chip holding its id),
sends it with a reply, and downloads any file of the thread through the console; limits
answer 413 / 415 where the reply's status is read; a file is only ever read through a
conversation the reader may see, and each download is audited."""

from __future__ import annotations

import re

from sqlalchemy import select

from omnicx.core.serialization import loads
from omnicx.core.settings import reset_settings
from omnicx.desk.attachments.models import Attachment
from omnicx.governance.audit import AuditFilter, detail_of, search
from tests.desk import files
from tests.desk.factories import messages
from tests.web.console_scene import scene, sign_in

HTMX = {"HX-Request": "true"}


def _pick(client, s, csrf: str, name: str, data: bytes, declared: str = ""):
    return client.post(
        f"/desk/conversations/{s.conversation_id}/files",
        data={"csrf": csrf},
        files={"file": (name, data, declared)},
        headers=HTMX,
    )


def test_a_picked_file_goes_out_with_the_reply_and_downloads_from_the_thread(client, db):
    s = scene(db)
    csrf = sign_in(client, s.agent)
    image = files.png()
    chip = _pick(client, s, csrf, "空调铭牌.png", image, "image/png")
    assert chip.status_code == 200, chip.text
    [file_id] = re.findall(r'name="attachment_ids" value="(\d+)"', chip.text)
    assert "空调铭牌.png" in chip.text

    sent = client.post(
        f"/desk/conversations/{s.conversation_id}/messages",
        data={"text": "请看铭牌照片", "csrf": csrf, "attachment_ids": [file_id]},
        headers=HTMX,
    )
    assert sent.status_code == 200, sent.text
    reply = messages(db, s.conversation_id)[-1]
    assert reply.direction == "out"
    assert [f["id"] for f in loads(reply.attachments)] == [int(file_id)]

    thread = client.get(f"/desk/conversations/{s.conversation_id}/thread")
    assert f'href="/desk/attachments/{file_id}"' in thread.text
    got = client.get(f"/desk/attachments/{file_id}")
    assert got.status_code == 200 and got.content == image
    assert got.headers["content-type"] == "image/png"
    with db.read() as session:
        entries = search(session, AuditFilter(action="customer.view"))
        viewed = [detail_of(e) for e in entries if e.target_id == str(s.customer_id)]
    assert {"via": "console.attachment", "attachment_id": int(file_id)}.items() <= viewed[0].items()


def test_refusals_say_why_where_the_reply_status_is_and_store_nothing(client, db, monkeypatch):
    s = scene(db)
    csrf = sign_in(client, s.agent)
    forged = _pick(client, s, "forged", "发票.pdf", files.pdf("发票"))
    assert forged.status_code == 403 and "reload and retry" in forged.text
    program = _pick(client, s, csrf, "发票.png", files.windows_program(), "image/png")
    assert program.status_code == 415 and 'role="alert"' in program.text
    assert program.headers["HX-Retarget"] == "#reply-status"
    monkeypatch.setenv("OMNICX_ATTACHMENT_MAX_BYTES", "1024")
    reset_settings()
    big = _pick(client, s, csrf, "发票.pdf", files.pdf("x" * 3000))
    assert big.status_code == 413 and "1 KB" in big.text
    with db.read() as session:
        assert session.scalars(select(Attachment)).all() == []
    # An id that was never uploaded to this conversation is refused, and nothing is sent.
    before = len(messages(db, s.conversation_id))
    stray = client.post(
        f"/desk/conversations/{s.conversation_id}/messages",
        data={"text": "附件", "csrf": csrf, "attachment_ids": ["999"]},
        headers=HTMX,
    )
    assert stray.status_code == 400 and "not uploaded to this conversation" in stray.text
    assert len(messages(db, s.conversation_id)) == before


def test_another_teams_agent_can_neither_upload_nor_download(client, db):
    s = scene(db)
    csrf = sign_in(client, s.agent)
    chip = _pick(client, s, csrf, "说明书.pdf", files.pdf("说明书"))
    [file_id] = re.findall(r'name="attachment_ids" value="(\d+)"', chip.text)
    outsider_csrf = sign_in(client, s.outsider)
    assert _pick(client, s, outsider_csrf, "x.pdf", files.pdf("x")).status_code == 404
    assert client.get(f"/desk/attachments/{file_id}").status_code == 404
    client.cookies.clear()
    anonymous = client.get(f"/desk/attachments/{file_id}", follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")
