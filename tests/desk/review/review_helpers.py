"""What the review-queue tests share: an app whose settings name the CRM's identifier
types and sources and a review webhook, and a local receiver for that webhook that
checks its signature as a subscriber would."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

WEBHOOK_SECRET = "review-hook-secret-2026"


@dataclass
class Received:
    """What the receiver got: each body, and whether its signature was valid."""

    deliveries: list[tuple[dict[str, Any], bool, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


@contextmanager
def webhook_receiver(secret: str = WEBHOOK_SECRET) -> Iterator[tuple[str, Received]]:
    """A real HTTP server on 127.0.0.1: (its URL, what it received)."""
    received = Received()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
            valid = hmac.compare_digest(expected, self.headers.get("X-OmniCX-Signature", ""))
            with received.lock:
                received.deliveries.append(
                    (json.loads(body), valid, self.headers.get("X-OmniCX-Delivery", ""))
                )
            self.send_response(204 if valid else 401)
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hooks/omnicx", received
    finally:
        server.shutdown()
        server.server_close()


def review_env(monkeypatch: Any, webhook_url: str | None = None) -> None:
    """The CRM is the authority for member numbers; the source named crm-members is the CRM."""
    from omnicx.core.settings import reset_settings

    monkeypatch.setenv("OMNICX_CRM_IDENTIFIER_TYPES", '["member_id"]')
    monkeypatch.setenv("OMNICX_CRM_SOURCES", '["crm-members"]')
    if webhook_url:
        monkeypatch.setenv("OMNICX_REVIEW_WEBHOOK_URL", webhook_url)
        monkeypatch.setenv("OMNICX_REVIEW_WEBHOOK_SECRET", WEBHOOK_SECRET)
    reset_settings()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
