"""Mail into the inbox through the SMTP listener, on SQLite and PostgreSQL: sent with
``smtplib`` over TCP as a sending MTA would, threaded by Message-ID, In-Reply-To and
References onto the customer who has the address; redeliveries, auto-replies and bounces
change nothing; unknown recipients (550) and oversized mail (552) are refused."""

from __future__ import annotations

import smtplib
from collections.abc import Iterator
from email.message import EmailMessage

import pytest
from sqlalchemy import func, select

from omnicx.channels.email.models import EmailMessage as EmailRow
from omnicx.core.eventlog.models import EventRow
from tests.channels.email_helpers import (
    ADDRESS,
    CUSTOMER,
    Mailbox,
    create_mailbox,
    customer_mail,
    send,
    smtp_listener,
    wire_bytes,
)
from tests.desk.factories import conversations, messages
from tests.factories import make_source, make_token, process

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c63f8cfc0f00f0004850180848a8c21"
    "0000000049454e44ae426082"
)


@pytest.fixture
def mailbox(db) -> Mailbox:
    return create_mailbox(db)


@pytest.fixture
def port(db, mailbox) -> Iterator[int]:
    with smtp_listener(db) as port:
        yield port


def message_attachments(message) -> list[dict]:
    from omnicx.core.serialization import loads

    return list(loads(message.attachments))


def _events(db) -> int:
    with db.read() as session:
        return int(session.scalar(select(func.count()).select_from(EventRow)) or 0)


def test_a_known_customers_mail_lands_on_them_and_replies_thread(client, db, mailbox, port):
    _, write_key = make_source(db, "crm")
    known = {"userId": "M-0042", "traits": {"name": "王芳", "email": "WangFang@Example.CN"}}
    assert client.post("/v1/identify", json=known, auth=(write_key, "")).status_code == 200
    first = customer_mail("您好，订单 2026120701 还没发货，请帮忙查一下。")
    send(port, first)
    # The customer answers their own mail, then answers again quoting the history.
    second = customer_mail(
        "补充：收货地址是上海市浦东新区。\n\n在 2026年12月7日 10:00，王芳 写道：\n> 您好",
        subject="Re: 订单还没发货",
        in_reply_to=first["Message-ID"],
        references=first["Message-ID"],
    )
    send(port, second)
    process(db)
    admin = {"Authorization": f"Bearer {make_token(db)}"}
    customer = client.get(
        "/api/v1/customers/lookup", params={"type": "email", "value": CUSTOMER}, headers=admin
    ).json()
    by_user = client.get(
        "/api/v1/customers/lookup", params={"type": "user_id", "value": "M-0042"}, headers=admin
    ).json()
    assert customer["id"] == by_user["id"]
    [conversation] = conversations(db)
    assert conversation.channel == "email" and conversation.customer_id == customer["id"]
    assert conversation.thread == first["Message-ID"].strip("<>")
    texts = [m.text for m in messages(db, conversation.id)]
    assert texts == [
        "您好，订单 2026120701 还没发货，请帮忙查一下。",
        "补充：收货地址是上海市浦东新区。",
    ]


def test_a_redelivered_mail_is_a_no_op(db, mailbox, port):
    mail = customer_mail("同一封邮件送了两次")
    send(port, mail)
    send(port, mail)
    assert _events(db) == 1
    process(db)
    assert len(messages(db)) == 1


def test_a_new_subject_without_references_is_a_new_thread(db, mailbox, port):
    send(port, customer_mail("第一件事"))
    send(port, customer_mail("另一件事", subject="发票"))
    process(db)
    assert len(conversations(db)) == 2


@pytest.mark.parametrize(
    "headers",
    [
        {"Auto_Submitted": "auto-replied"},
        {"Precedence": "bulk"},
        {"X_Autoreply": "yes"},
    ],
)
def test_auto_replies_open_no_conversation(db, mailbox, port, headers):
    send(port, customer_mail("我正在休假，12月10日回来。", **headers))
    assert _events(db) == 0
    process(db)
    assert conversations(db) == []


def test_a_bounce_from_the_null_sender_opens_nothing(db, mailbox, port):
    send(port, customer_mail("Undelivered Mail", sender="mailer-daemon@mx.example.cn"))
    send(port, customer_mail("投递失败"), sender="")
    assert _events(db) == 0


def test_files_and_inline_images_are_kept_in_the_media_store(client, db, mailbox, port):
    mail = customer_mail("照片和发票见附件。")
    mail.add_alternative('<p>照片：<img src="cid:photo1@example.cn"></p>', subtype="html")
    mail.get_payload()[1].add_related(
        PNG, "image", "png", cid="<photo1@example.cn>", filename="破损.png", disposition="inline"
    )
    mail.add_attachment(b"%PDF-1.4\n%test\n", maintype="application", subtype="pdf",
                        filename="发票.pdf")  # fmt: skip
    mail.add_attachment(b"MZ\x90\x00" + bytes(range(256)), maintype="application",
                        subtype="octet-stream", filename="setup.exe")  # fmt: skip
    send(port, mail)
    process(db)
    [message] = messages(db)
    [conversation] = conversations(db)
    admin = {"Authorization": f"Bearer {make_token(db)}"}
    listed = client.get(f"/api/v1/conversations/{conversation.id}/messages", headers=admin).json()[
        "items"
    ]
    files = {f["name"]: f for f in listed[0]["attachments"] if "id" in f}
    assert set(files) == {"破损.png", "发票.pdf"}, listed
    # A file the store does not take is named in the message, and the mail is kept.
    [refused] = [a for a in message_attachments(message) if a.get("type") == "not_kept"]
    assert refused["name"] == "setup.exe" and refused["reason"]
    assert files["破损.png"]["type"] == "image/png"
    png = client.get(f"/api/v1/attachments/{files['破损.png']['id']}", headers=admin)
    assert png.status_code == 200 and png.content == PNG
    pdf = client.get(f"/api/v1/attachments/{files['发票.pdf']['id']}", headers=admin)
    assert pdf.content == b"%PDF-1.4\n%test\n"
    assert message.text == "照片和发票见附件。"


def test_an_unknown_recipient_is_refused_with_550(db, mailbox, port):
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        send(port, customer_mail("发错了", to="sales@shop.cn"), to="sales@shop.cn")
    assert refused.value.recipients["sales@shop.cn"][0] == 550
    assert _events(db) == 0


def test_a_mail_over_the_size_limit_is_refused_with_552(db, mailbox):
    with smtp_listener(db, max_bytes=50_000) as port:
        big = customer_mail("大附件")
        big.add_attachment(b"\0" * 60_000, maintype="application", subtype="octet-stream",
                           filename="big.bin")  # fmt: skip
        with pytest.raises(smtplib.SMTPException) as refused:
            send(port, big)
    assert getattr(refused.value, "smtp_code", None) == 552 or "552" in str(refused.value)
    assert _events(db) == 0


def test_a_storage_failure_answers_451_so_the_mta_retries(db, mailbox, port, monkeypatch):
    from omnicx.core.eventlog import table

    def broken(self, events, record):
        raise RuntimeError("disk full")

    monkeypatch.setattr(table.TableEventLog, "_append_recorded", broken)
    with pytest.raises(smtplib.SMTPDataError) as refused:
        send(port, customer_mail("存不下"))
    assert refused.value.smtp_code == 451
    monkeypatch.undo()
    send(port, customer_mail("存不下", message_id="<again@example.cn>"))
    assert _events(db) == 1
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(EmailRow)) == 1


def test_a_mail_for_two_of_our_mailboxes_reaches_both(db, mailbox):
    other = create_mailbox(db, "售后邮箱", "aftersales@shop.cn")
    with smtp_listener(db) as port, smtplib.SMTP("127.0.0.1", port) as client:
        mail = customer_mail("两个邮箱都发了", to=f"{ADDRESS}, {other.address}")
        client.sendmail(CUSTOMER, [ADDRESS, other.address], wire_bytes(mail))
    assert _events(db) == 2
    assert isinstance(mail, EmailMessage)


def test_long_message_ids_and_addresses_fit_the_log(db, mailbox, port):
    sender = "x" * 190 + "@example.cn"  # a legal address longer than the log's ids
    long_id = "<" + "m" * 300 + "@example.cn>"
    send(port, customer_mail("很长的地址", sender=sender, message_id=long_id), sender=sender)
    send(port, customer_mail("很长的地址", sender=sender, message_id=long_id), sender=sender)
    assert _events(db) == 1
    process(db)
    [conversation] = conversations(db)
    assert conversation.thread.startswith("sha256:")


def test_the_senders_anonymous_id_names_no_address(db, mailbox, port):
    """Anonymous ids are shown unmasked (a basic agent's customer panel): the address is
    only in the ``email`` trait, which the access layer masks."""
    from omnicx.core.serialization import loads

    send(port, customer_mail("发票开好了吗？"))
    with db.read() as session:
        [payload] = [loads(row.payload) for row in session.scalars(select(EventRow))]
    assert payload["anonymousId"].startswith("email:")
    assert CUSTOMER.split("@")[0] not in payload["anonymousId"]
    assert payload["context"]["traits"]["email"] == CUSTOMER


def test_a_sender_over_the_rate_is_deferred_with_451(db, mailbox):
    with smtp_listener(db, rate=(2.0, 0.01)) as port:
        send(port, customer_mail("一"))
        send(port, customer_mail("二"))
        with pytest.raises(smtplib.SMTPDataError) as deferred:
            send(port, customer_mail("三"))
    assert deferred.value.smtp_code == 451
    assert _events(db) == 2
