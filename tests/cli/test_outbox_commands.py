"""A signed test delivery goes through the real outbox and dispatcher."""

from __future__ import annotations

import hashlib
import hmac
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

from typer.testing import CliRunner

from omnicx.cli.main import app


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
