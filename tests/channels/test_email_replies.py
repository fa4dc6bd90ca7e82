"""Agents' replies by mail, on SQLite and PostgreSQL: through the desk, the outbox and
the mailbox's SMTP server (``aiosmtpd`` as the receiving MTA, with a login), carrying
the threading headers the customer's client needs; the customer's answer to the reply
threads back; permanent refusals end ``refused`` with the reason, temporary ones retry."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from sqlalchemy import select

from omnicx.channels.email.setup import MailServer
from omnicx.core.outbox import OutboxMessage as OutboxRow
from omnicx.runtime.outbound import make_dispatcher
from tests.channels.email_helpers import (
    ADDRESS,
    CUSTOMER,
    Mailbox,
    Recorder,
    create_mailbox,
    customer_mail,
    free_port,
    send,
    smtp_listener,
)
from tests.desk.factories import conversations, messages
from tests.factories import make_token, process

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
USER, PASSWORD = "support@shop.cn", "Tg7pLk2xQw9rZ4mN"  # a provider's app password (授权码)


@pytest.fixture
def mta() -> Iterator[Recorder]:
    """The mailbox provider's SMTP server: takes mail only after a login."""
    recorder = Recorder(port=free_port())

    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any):
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            USER.encode(),
            PASSWORD.encode(),
        )
        if ok:
            recorder.logins.append((data.login.decode(), mechanism))
        return AuthResult(success=ok)

    controller = Controller(
        recorder,
        hostname="127.0.0.1",
        port=recorder.port,
        authenticator=authenticate,
        auth_required=True,
        auth_require_tls=False,
    )
    controller.start()
    try:
        yield recorder
    finally:
        controller.stop()


@pytest.fixture
def mailbox(db, mta) -> Mailbox:
    smtp = MailServer("127.0.0.1", mta.port, user=USER, password=PASSWORD)
    return create_mailbox(db, smtp=smtp)


@pytest.fixture
def port(db, mailbox) -> Iterator[int]:
    with smtp_listener(db) as port:
        yield port


def _dispatch(db, settings) -> int:
    return make_dispatcher(db, settings).dispatch_once()


def _reply(client, db, words: str) -> int:
    [conversation] = conversations(db)
    sent = client.post(
        f"/api/v1/conversations/{conversation.id}/messages",
        json={"kind": "reply", "text": words},
        headers={"Authorization": f"Bearer {make_token(db)}"},
    )
    assert sent.status_code == 201, sent.text
    return conversation.id


def _replies(client, db, language: str = "en") -> list[dict[str, Any]]:
    [conversation] = conversations(db)
    items = client.get(
        f"/api/v1/conversations/{conversation.id}/messages",
        headers={"Authorization": f"Bearer {make_token(db)}", "Accept-Language": language},
    ).json()["items"]
    return [m for m in items if m["direction"] == "out"]


def test_a_reply_threads_in_the_customers_client_and_their_answer_threads_back(
    client, db, settings, mailbox, port, mta
):
    first = customer_mail("您好，发票什么时候开？", subject="发票")
    send(port, first)
    process(db)
    _reply(client, db, "王女士您好，发票今天下班前开具，请查收。")
    assert _dispatch(db, settings) == 1
    [received] = mta.mails
    mail = received.message
    assert received.rcpt_tos == [CUSTOMER] and received.mail_from == ADDRESS
    assert mta.logins == [(USER, "LOGIN")] or mta.logins[0][0] == USER
    assert mail["In-Reply-To"] == first["Message-ID"]
    assert mail["References"] == first["Message-ID"]
    assert mail["Subject"] == "Re: 发票"
    assert mail["To"].addresses[0].addr_spec == CUSTOMER
    assert mail["From"].addresses[0].display_name == "客服邮箱"
    assert mail.get_content_charset() == "utf-8"
    assert mail.get_content().strip() == "王女士您好，发票今天下班前开具，请查收。"
    ours = mail["Message-ID"]
    assert ours.startswith("<omnicx.") and ours.endswith("@shop.cn>")
    assert _replies(client, db)[0]["delivery"] == "delivered"
    # The customer answers our reply: it joins the same conversation.
    answer = customer_mail(
        "收到，谢谢！\n\nOn Mon, Dec 7, 2026 at 10:00 AM 客服邮箱 <support@shop.cn> wrote:\n> 发票",
        subject="Re: Re: 发票",
        in_reply_to=ours,
        references=f"{first['Message-ID']} {ours}",
    )
    send(port, answer)
    process(db)
    [conversation] = conversations(db)
    texts = [m.text for m in messages(db, conversation.id)]
    assert texts[-1] == "收到，谢谢！" and len(texts) == 3
    # The next reply names the whole thread, the latest mail last.
    _reply(client, db, "不客气。")
    _dispatch(db, settings)
    second = mta.mails[1].message
    assert second["In-Reply-To"] == answer["Message-ID"]
    assert second["References"].split() == [first["Message-ID"], ours, answer["Message-ID"]]
    assert second["Subject"] == "Re: Re: 发票"


def test_a_permanent_refusal_ends_refused_with_the_reason(client, db, settings, mailbox, port, mta):
    send(port, customer_mail("在吗？"))
    process(db)
    mta.answer = "550 5.1.1 mailbox unavailable"
    _reply(client, db, "在的，请讲。")
    _dispatch(db, settings)
    [reply] = _replies(client, db, "zh-CN")
    assert reply["delivery"] == "refused"
    assert "邮件服务器" in reply["delivery_reason"]
    assert mta.mails == []


def test_a_temporary_failure_is_retried_with_the_same_message_id(
    client, db, settings, mailbox, port, mta
):
    send(port, customer_mail("在吗？"))
    process(db)
    mta.answer = "451 4.3.0 try again later"
    _reply(client, db, "在的。")
    _dispatch(db, settings)
    with db.read() as session:
        row = session.scalars(select(OutboxRow)).one()
        assert row.status == "pending" and row.attempts == 1
        created = row.created_at
    mta.answer = None
    with db.write() as session:  # the backoff has passed
        session.scalars(select(OutboxRow)).one().next_attempt_at = created
    assert _dispatch(db, settings) == 1
    [received] = mta.mails
    assert _replies(client, db)[0]["delivery"] == "delivered"
    assert received.message["Message-ID"].startswith("<omnicx.")


def test_a_mailbox_without_smtp_refuses_the_reply_clearly(client, db, settings):
    create_mailbox(db, "只收信邮箱", "inbox@shop.cn")
    with smtp_listener(db) as port:
        send(port, customer_mail("你好", to="inbox@shop.cn"), to="inbox@shop.cn")
    process(db)
    _reply(client, db, "您好")
    _dispatch(db, settings)
    [reply] = _replies(client, db, "zh-CN")
    assert reply["delivery"] == "refused" and "SMTP" in reply["delivery_reason"]


def _self_signed(tmp_path) -> tuple[str, str]:
    """A certificate for 127.0.0.1 and its key, as PEM files (the test's own CA)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert_file), str(key_file)


def test_starttls_with_a_verified_certificate_and_login(
    client, db, settings, tmp_path, monkeypatch
):
    """Port 587 as providers run it: STARTTLS required before AUTH, the certificate
    checked against the trusted roots (here the test's own, through SSL_CERT_FILE)."""
    import ssl

    cert, key = _self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    recorder = Recorder(port=free_port())

    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any):
        ok = isinstance(data, LoginPassword) and data.password == PASSWORD.encode()
        if ok:
            recorder.logins.append((data.login.decode(), mechanism))
        return AuthResult(success=ok)

    controller = Controller(
        recorder,
        hostname="127.0.0.1",
        port=recorder.port,
        tls_context=context,
        require_starttls=True,
        authenticator=authenticate,
        auth_required=True,
    )
    controller.start()
    monkeypatch.setenv("SSL_CERT_FILE", cert)
    try:
        smtp = MailServer("127.0.0.1", recorder.port, user=USER, password=PASSWORD, starttls=True)
        create_mailbox(db, "加密邮箱", "secure@shop.cn", smtp=smtp)
        with smtp_listener(db) as port:
            send(port, customer_mail("加密发送", to="secure@shop.cn"), to="secure@shop.cn")
        process(db)
        _reply(client, db, "已收到。")
        _dispatch(db, settings)
        assert [m.message["Subject"] for m in recorder.mails] == ["Re: 订单还没发货"]
        assert recorder.logins and recorder.logins[0][0] == USER
    finally:
        controller.stop()
