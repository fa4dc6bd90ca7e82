"""Email in production mode: PostgreSQL and the NATS JetStream event log, a live
``omnicx serve`` with its SMTP listener (``OMNICX_SMTP_PORT``) and its worker. A mail
the sending MTA delivers twice is one event and one message; the agent's reply reaches
the receiving MTA through the worker's dispatcher with the threading headers."""

from __future__ import annotations

from typing import Any

import pytest

from tests.channels.email_helpers import customer_mail, free_port, receiving_mta, send
from tests.channels.webchat_helpers import logged_messages
from tests.live_server import eventually, live_server_on

pytestmark = pytest.mark.slow


def test_a_redelivered_mail_and_a_reply_through_jetstream(tmp_path, nats_url, stream):
    port = free_port()
    settings = {
        "OMNICX_EVENT_LOG": nats_url,
        "OMNICX_NATS_STREAM": stream,
        "OMNICX_SMTP_PORT": str(port),
    }
    with receiving_mta() as mta, live_server_on("postgres", tmp_path, settings) as server:
        out = server.cli(
            "channels", "create", "email", "--name", "生产邮箱", "--address", "support@shop.cn",
            "--smtp-host", "127.0.0.1", "--smtp-port", str(mta.port),
        )  # fmt: skip
        assert out.strip().splitlines()[-1] == "support@shop.cn", out
        mail = customer_mail("安装师傅什么时候到？", subject="预约安装")
        for _ in range(2):  # the sending MTA did not see our 250 and delivers again
            send(port, mail)
        message_id = mail["Message-ID"].strip("<>")
        events = eventually(lambda: logged_messages(server, message_id))
        assert len(events) == 1 and events[0]["properties"]["thread"] == message_id
        api = server.api()

        def conversation() -> dict[str, Any] | None:
            found = api.get("/api/v1/conversations", params={"channel": "email"}).json()
            return next((c for c in found["items"] if c["thread"] == message_id), None)

        opened = eventually(conversation)
        messages = api.get(f"/api/v1/conversations/{opened['id']}/messages").json()["items"]
        assert [m["text"] for m in messages] == ["安装师傅什么时候到？"]
        sent = api.post(
            f"/api/v1/conversations/{opened['id']}/messages",
            json={"kind": "reply", "text": "师傅下午两点前到。"},
        )
        assert sent.status_code == 201, sent.text
        eventually(lambda: mta.mails)
        [reply] = mta.mails
        assert reply.message["In-Reply-To"] == mail["Message-ID"]
        assert reply.message["Subject"] == "Re: 预约安装"
        assert reply.message.get_content().strip() == "师傅下午两点前到。"
