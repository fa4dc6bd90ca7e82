"""The official Segment and RudderStack Python SDKs, unchanged, against a live ``omnicx serve``.

One person reaches us from several devices and channels: a web browser (anonymousId), a
mobile app (device id), WeChat (an openid scoped by the app id), and the CRM (userId,
email, phone). Whatever SDK sends the calls, they must end in one customer that every
identifier finds.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from rudderstack.analytics.client import Client as RudderClient
from segment.analytics.client import Client as SegmentClient

from tests.live_server import LiveServer, live_server_on

pytestmark = pytest.mark.slow

PROCESSING_TIMEOUT = 20.0
# Each journey on a shared server needs its own phone number: one number held by two
# CRM user ids is a conflict for review, never a merge.
PHONES = {
    "seg": ("139 1234 5678", "+86 139-1234-5678"),
    "rs": ("139 8765 4321", "+86 139-8765-4321"),
}


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """One server per backend for the module; each test uses its own identifiers."""
    with live_server_on(request.param, tmp_path_factory.mktemp(request.param)) as live:
        yield live


def segment_client(server: LiveServer, on_error: Callable[..., None]) -> SegmentClient:
    return SegmentClient(
        server.write_key,
        host=server.url,
        on_error=on_error,
        gzip=True,
        max_retries=2,
        upload_interval=0.1,
    )


def rudderstack_client(server: LiveServer, on_error: Callable[..., None]) -> RudderClient:
    # ``host`` is the SDK's data plane URL; it posts to <host>/v1/batch, gzipped.
    return RudderClient(
        server.write_key, host=server.url, on_error=on_error, max_retries=2, upload_interval=0.1
    )


def send_journey(sdk: Any, tag: str) -> int:
    """One person's calls from the web, the app, the CRM and WeChat. Returns how many."""
    web, device, app_install = f"web-anon-{tag}", f"device-{tag}", f"app-install-{tag}"
    user, openid = f"crm-{tag}", f"oWx-{tag}"
    crm_phone, wechat_phone = PHONES[tag]
    sdk.page(
        anonymous_id=web,
        name="Home",
        properties={"path": "/", "title": "OmniShop"},
        context={"page": {"path": "/", "url": "https://shop.example.com/"}},
    )
    sdk.identify(
        user_id=user,
        anonymous_id=web,
        traits={"name": "王芳", "email": f" Wang.Fang.{tag}@QQ.com ", "phone": crm_phone},
    )
    sdk.screen(
        anonymous_id=app_install,
        name="Cart",
        properties={"items": 2},
        context={"device": {"id": device, "type": "ios"}, "app": {"name": "OmniShop"}},
    )
    sdk.alias(previous_id=app_install, user_id=user)
    sdk.track(
        anonymous_id=f"wx-session-{tag}",
        event="WeChat Message Received",
        properties={"text": "我的订单到哪了?"},
        context={
            "channel": "wechat",
            "traits": {"phone": wechat_phone},
            "externalIds": [
                {"type": "wechat_openid", "id": openid, "collection": "wxapp1", "encoding": "none"}
            ],
        },
    )
    sdk.track(user_id=user, event="Order Completed", properties={"order_id": "SO-1", "total": 99})
    return 6


def expected_identifiers(tag: str) -> list[tuple[str, str, str]]:
    """(type, value as a client might type it, scope) of every identifier in the journey."""
    return [
        ("user_id", f"crm-{tag}", ""),
        ("anonymous_id", f"web-anon-{tag}", ""),
        ("anonymous_id", f"app-install-{tag}", ""),
        ("anonymous_id", f"wx-session-{tag}", ""),
        ("device_id", f"device-{tag}", ""),
        ("email", f"wang.fang.{tag}@qq.com", ""),
        ("email", f"WANG.FANG.{tag}@qq.com", ""),
        ("phone", PHONES[tag][0].replace(" ", ""), ""),
        ("phone", "+86 " + PHONES[tag][0], ""),
        ("wechat_openid", f"oWx-{tag}", "wxapp1"),
    ]


def wait_for_customer(api: httpx.Client, user_id: str, events: int) -> dict[str, Any]:
    """Poll the lookup until the pipeline has folded in every event (bounded)."""
    deadline = time.monotonic() + PROCESSING_TIMEOUT
    last = ""
    while time.monotonic() < deadline:
        r = api.get("/api/v1/customers/lookup", params={"type": "user_id", "value": user_id})
        last = f"{r.status_code} {r.text[:500]}"
        if r.status_code == 200 and r.json()["event_count"] >= events:
            return dict(r.json())
        assert r.status_code in (200, 404), last
        time.sleep(0.1)
    raise AssertionError(f"customer {user_id} not complete after {PROCESSING_TIMEOUT}s: {last}")


def assert_one_customer(server: LiveServer, tag: str, events: int) -> dict[str, Any]:
    with server.api() as api:
        customer = wait_for_customer(api, f"crm-{tag}", events)
        for kind, value, scope in expected_identifiers(tag):
            r = api.get(
                "/api/v1/customers/lookup", params={"type": kind, "value": value, "scope": scope}
            )
            assert r.status_code == 200, (kind, value, r.text)
            assert r.json()["id"] == customer["id"], (kind, value)
        # The same openid in another WeChat app is somebody else.
        r = api.get(
            "/api/v1/customers/lookup",
            params={"type": "wechat_openid", "value": f"oWx-{tag}", "scope": "wxapp2"},
        )
        assert r.status_code == 404, r.text
        full = api.get(f"/api/v1/customers/{customer['id']}")
        assert full.status_code == 200, full.text
        customer = full.json()

    assert customer["event_count"] == events
    assert customer["traits"]["name"] == "王芳"
    identifiers = {(i["type"], i["scope"]) for i in customer["identifiers"]}
    assert identifiers == {
        ("user_id", ""),
        ("anonymous_id", ""),
        ("device_id", ""),
        ("email", ""),
        ("phone", ""),
        ("wechat_openid", "wxapp1"),
    }
    assert len([i for i in customer["identifiers"] if i["type"] == "anonymous_id"]) == 3
    assert "wechat" in customer["channels"]
    return customer


class ErrorLog:
    """The SDKs' ``on_error`` callback: remembers every failed upload."""

    def __init__(self) -> None:
        self.errors: list[tuple[Exception, int]] = []

    def __call__(self, error: Exception, batch: list[Any]) -> None:
        self.errors.append((error, len(batch)))


def test_segment_sdk_calls_from_every_channel_end_in_one_customer(server: LiveServer) -> None:
    errors = ErrorLog()
    sdk = segment_client(server, errors)
    try:
        sent = send_journey(sdk, "seg")
        sdk.flush()
    finally:
        sdk.shutdown()
    assert errors.errors == []

    customer = assert_one_customer(server, "seg", sent)
    # Segment's context.page / context.app / context.channel say where each call came from.
    assert {"web", "app", "wechat"} <= set(customer["channels"])


def test_rudderstack_sdk_calls_from_every_channel_end_in_one_customer(server: LiveServer) -> None:
    errors = ErrorLog()
    sdk = rudderstack_client(server, errors)
    try:
        sent = send_journey(sdk, "rs")
        sdk.flush()
    finally:
        sdk.shutdown()
    assert errors.errors == []

    customer = assert_one_customer(server, "rs", sent)
    # RudderStack sets channel="server" on every call; context.page / context.app still win.
    assert {"web", "app", "wechat"} <= set(customer["channels"])


def test_both_sdks_feeding_one_server_stitch_the_same_person(server: LiveServer) -> None:
    """The web team uses Segment, the app team RudderStack: one person, one customer."""
    errors = ErrorLog()
    segment = segment_client(server, errors)
    rudder = rudderstack_client(server, errors)
    try:
        segment.identify(
            user_id="crm-both", anonymous_id="web-both", traits={"email": "both@example.com"}
        )
        segment.flush()
        rudder.screen(
            anonymous_id="app-both", name="Home", context={"device": {"id": "device-both"}}
        )
        rudder.identify(anonymous_id="app-both", traits={"email": "Both@Example.com"})
        rudder.flush()
    finally:
        segment.shutdown()
        rudder.shutdown()
    assert errors.errors == []

    with server.api() as api:
        customer = wait_for_customer(api, "crm-both", 3)
        for kind, value in [("device_id", "device-both"), ("anonymous_id", "web-both")]:
            r = api.get("/api/v1/customers/lookup", params={"type": kind, "value": value})
            assert r.status_code == 200, r.text
            assert r.json()["id"] == customer["id"]
    assert customer["event_count"] == 3
