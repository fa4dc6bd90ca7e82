"""IMAP polling against a real IMAP server (Debian's Dovecot, run by the test in a
temporary directory), on SQLite and PostgreSQL: mail put in the mailbox with IMAP APPEND
is taken once, a poll goes on where the last stopped (UIDVALIDITY + UID), nothing is
marked read, a changed UIDVALIDITY reads the folder again without doubling anything, and
IDLE takes new mail at once; ``omnicx channels imap --once`` polls from the command line."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import pytest
from imapclient import IMAPClient
from sqlalchemy import func, select, update
from typer.testing import CliRunner

from omnicx.channels.email.imap import MailboxPoller, poll_once
from omnicx.channels.email.models import ImapPosition
from omnicx.channels.email.setup import MailServer, create_email_channel
from omnicx.cli.main import app
from omnicx.core.eventlog.models import EventRow
from omnicx.core.eventlog.table import TableEventLog
from omnicx.runtime.media import wire as wire_media
from tests.channels.dovecot import Imap, dovecot
from tests.channels.email_helpers import Mailbox, customer_mail, wire_bytes
from tests.desk.factories import conversations, messages
from tests.factories import process


@pytest.fixture
def imap() -> Iterator[Imap]:
    with dovecot() as server:
        yield server


@pytest.fixture
def mailbox(db, imap) -> Mailbox:
    wire_media()
    server = MailServer("127.0.0.1", imap.port, user=imap.user, password=imap.password)
    with db.write() as session:
        channel = create_email_channel(session, "客服邮箱", address=imap.user, imap=server)
        return Mailbox(channel.id, imap.user)


def _deliver(imap: Imap, *mails: bytes) -> None:
    """Mail arriving at the provider's mailbox (IMAP APPEND, as a delivery agent would)."""
    with IMAPClient("127.0.0.1", port=imap.port, ssl=False) as client:
        client.login(imap.user, imap.password)
        for data in mails:
            client.append("INBOX", data)


def _poll(db, mailbox: Mailbox) -> int:
    return asyncio.run(poll_once(TableEventLog(db), db, mailbox.channel_id))


def _events(db) -> int:
    with db.read() as session:
        return int(session.scalar(select(func.count()).select_from(EventRow)) or 0)


def test_mail_is_taken_once_and_polling_goes_on_where_it_stopped(db, imap, mailbox):
    first = customer_mail("您好，我的快递显示已签收，但我没收到。")
    _deliver(imap, wire_bytes(first), wire_bytes(customer_mail("另一件事：发票抬头要改。")))
    assert _poll(db, mailbox) == 2
    assert _events(db) == 2
    assert _poll(db, mailbox) == 0  # nothing new: nothing read again
    answer = customer_mail(
        "补充：快递单号 SF1234567890。",
        in_reply_to=first["Message-ID"],
        references=first["Message-ID"],
    )
    _deliver(imap, wire_bytes(answer))
    assert _poll(db, mailbox) == 1 and _events(db) == 3
    with db.read() as session:
        position = session.get(ImapPosition, mailbox.channel_id)
        assert position is not None and position.last_uid == 3
    process(db)
    threads = {c.thread: c.id for c in conversations(db)}
    assert len(threads) == 2
    texts = [m.text for m in messages(db, threads[first["Message-ID"].strip("<>")])]
    assert texts == ["您好，我的快递显示已签收，但我没收到。", "补充：快递单号 SF1234567890。"]
    # The mailbox is left as people see it: nothing marked read.
    with IMAPClient("127.0.0.1", port=imap.port, ssl=False) as client:
        client.login(imap.user, imap.password)
        client.select_folder("INBOX", readonly=True)
        assert client.search(["UNSEEN"]) == [1, 2, 3]


def test_a_changed_uidvalidity_reads_again_without_doubling(db, imap, mailbox):
    _deliver(imap, wire_bytes(customer_mail("第一封")))
    assert _poll(db, mailbox) == 1
    with db.write() as session:
        session.execute(update(ImapPosition).values(uidvalidity=1))  # the server renumbered
    _deliver(imap, wire_bytes(customer_mail("第二封")))
    assert _poll(db, mailbox) == 2
    assert _events(db) == 2


def test_auto_replies_in_the_mailbox_are_passed_over(db, imap, mailbox):
    _deliver(imap, wire_bytes(customer_mail("自动回复：我正在休假", Auto_Submitted="auto-replied")))
    assert _poll(db, mailbox) == 1
    assert _events(db) == 0


def test_idle_takes_new_mail_at_once(db, imap, mailbox):
    stop = threading.Event()
    loop = asyncio.new_event_loop()
    runner = threading.Thread(target=loop.run_forever, daemon=True)
    runner.start()
    poller = MailboxPoller(TableEventLog(db), db, mailbox.channel_id, loop)
    polling = threading.Thread(target=poller.run, args=(stop, 60.0), daemon=True)
    polling.start()
    try:
        time.sleep(1.0)  # connected and idling
        _deliver(imap, wire_bytes(customer_mail("IDLE 应该马上收到")))
        deadline = time.monotonic() + 10  # far below the 60 s between polls
        while _events(db) == 0:
            assert time.monotonic() < deadline, "IDLE did not wake the poller"
            time.sleep(0.1)
    finally:
        stop.set()
        polling.join(10)
        loop.call_soon_threadsafe(loop.stop)
        runner.join(5)
        loop.close()
    assert not polling.is_alive()


def test_the_command_polls_once(db, imap, mailbox):
    _deliver(imap, wire_bytes(customer_mail("命令行轮询")))
    result = CliRunner().invoke(app, ["channels", "imap", "--once"])
    assert result.exit_code == 0, result.output
    assert "1 mail(s) read" in result.output and _events(db) == 1
