"""What the real-browser tests share: Debian's Chromium driven by Playwright (no browser
download; the flags keep it off the network), signing in on the page, and waiting for the
live server's pipeline. The ``browser`` fixture itself is in ``tests/conftest.py``."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ADMIN_EMAIL = "admin@omnicx.local"


@contextmanager
def launch_chromium() -> Iterator[Any]:
    """A headless Chromium for the duration of the block."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        yield chromium
        chromium.close()


def sign_in(page: Any, email: str, password: str) -> None:
    """Fill in and send the sign-in form the page shows."""
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")


def send_calls(server: Any, calls: list[dict[str, Any]]) -> None:
    """Send Segment calls to the live server's batch endpoint, as a site's SDK would."""
    sent = httpx.post(f"{server.url}/v1/batch", auth=(server.write_key, ""), json={"batch": calls})
    assert sent.status_code == 200, sent.text


def wait_for_events(server, kind: str, value: str, events: int, timeout: float = 20.0) -> None:
    """Poll the 360 read until the background pipeline has projected the events."""
    deadline = time.monotonic() + timeout
    with server.api() as api:
        while time.monotonic() < deadline:
            found = api.get("/api/v1/customers/lookup", params={"type": kind, "value": value})
            if found.status_code == 200 and found.json()["event_count"] >= events:
                return
            time.sleep(0.1)
    raise AssertionError(f"{kind} {value} did not reach {events} events in {timeout}s")
