"""A signed test delivery goes through the real outbox and dispatcher."""

from __future__ import annotations

import hashlib
import hmac
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

from rich.console import Console
from typer.testing import CliRunner

from omnicx.cli import outbox_commands
from omnicx.cli.main import app
from omnicx.core.outbox import enqueue
from omnicx.identity.service import find_customer_by_identifier
from tests.factories import append_calls, call, make_source, process


def receiver(statuses: list[int]):
    seen: list[tuple[dict[str, str], bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            seen.append((dict(self.headers), body))
            self.send_response(statuses.pop(0) if statuses else 200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, seen


def test_test_webhook_is_signed_and_delivered(settings):
    server, seen = receiver([])
    try:
        url = f"http://127.0.0.1:{server.server_port}/hook"
        result = CliRunner().invoke(app, ["outbox", "test-webhook", url, "--secret", "s3cret"])
        assert result.exit_code == 0, result.output
        assert "sent" in result.output
        headers, body = seen[0]
        expected = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
        assert headers["X-OmniCX-Signature"] == expected
        listed = CliRunner().invoke(app, ["outbox", "list", "--status", "sent"])
        assert "webhook" in listed.output
    finally:
        server.shutdown()


def test_unreachable_webhook_reports_the_error(settings):
    result = CliRunner().invoke(
        app, ["outbox", "test-webhook", "http://127.0.0.1:1/none", "--wait", "1"]
    )
    assert result.exit_code == 1
    assert "pending" in result.output and "ConnectError" in result.output


def test_bad_url_is_refused(settings):
    result = CliRunner().invoke(app, ["outbox", "test-webhook", "ftp://example.com"])
    assert result.exit_code == 2


def test_list_counts_refused_messages_and_says_why(settings, db, monkeypatch):
    """A marketing message without consent is refused by the CLI's dispatcher too."""
    monkeypatch.setattr(outbox_commands, "console", Console(width=200))  # a wide terminal
    source_id, _ = make_source(db)
    append_calls(db, source_id, [call("identify", userId="u-outbox-cli")])
    process(db)
    server, seen = receiver([])
    try:
        url = f"http://127.0.0.1:{server.server_port}/hook"
        with db.write() as session:
            customer = find_customer_by_identifier(session, "user_id", "u-outbox-cli")
            enqueue(
                session,
                "webhook",
                {"url": url, "body": {"offer": "双十一"}},
                customer_id=customer,
                purpose="marketing",
                channel="sms",
            )
        # test-webhook runs the same dispatcher as the workers: the offer is refused.
        sent = CliRunner().invoke(app, ["outbox", "test-webhook", url])
        assert sent.exit_code == 0, sent.output
        assert [b"offer" in body for _, body in seen] == [False]

        listed = CliRunner().invoke(app, ["outbox", "list", "--status", "refused"])
        assert listed.exit_code == 0, listed.output
        assert f"customer {customer} marketing/sms" in listed.output
        assert "no marketing consent on sms" in listed.output
        assert "pending: 0  sent: 1  dead: 0  refused: 1" in listed.output
        bad = CliRunner().invoke(app, ["outbox", "list", "--status", "lost"])
        assert bad.exit_code == 2
    finally:
        server.shutdown()
