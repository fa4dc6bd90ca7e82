"""analytics.js (``@segment/analytics-next``, the SDK most websites use) in Chromium, on a
shop's page served from another origin, sends page, track and identify to a live
``omnicx serve``; all three end on one customer.

The bundle is the real one from npm, kept in ``tests/fixtures/analytics-next/``. It is
configured as a site would point it at OmniCX: ``apiHost``, ``protocol: 'http'`` and the
settings inline, so it fetches nothing from Segment's CDN; the test fails if the page
asks any other host for anything.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.live_server import LiveServer

pytestmark = pytest.mark.slow

BUNDLE = Path(__file__).parents[1] / "fixtures" / "analytics-next" / "analytics-next.umd.js"
USER_ID = "crm-browser-1"

PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>OmniShop 首页</title>
<script src="/analytics-next.umd.js"></script></head>
<body><h1>OmniShop</h1><script>
window.delivered = (async () => {{
  const segment = {{ apiKey: "{key}", apiHost: "{api_host}/v1", protocol: "http" }};
  const [analytics] = await window.AnalyticsNext.AnalyticsBrowser.load(
    {{ writeKey: "{key}", cdnSettings: {{ integrations: {{ "Segment.io": segment }},
                                         metrics: {{ sampleRate: 0 }} }} }},
    {{ integrations: {{ "Segment.io": segment }} }}
  );
  const results = [
    await analytics.page("Shop", "首页", {{ title: "OmniShop 首页" }}),
    await analytics.track("Product Viewed", {{ sku: "SKU-1", price: 99 }}),
    await analytics.identify("{user_id}", {{ name: "王芳", email: "wang.fang.web@example.cn" }}),
  ];
  return {{
    anonymousId: analytics.user().anonymousId(),
    failed: results.map((ctx) => ctx.failedDelivery() ? String(ctx.failedDelivery().reason) : null),
  }};
}})();
</script></body></html>
"""


class ShopHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def shop_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, int]]:
    """A second web server (the shop's site): a folder and the port it is served on."""
    root = tmp_path_factory.mktemp("shop")
    (root / "analytics-next.umd.js").write_bytes(BUNDLE.read_bytes())
    site = ThreadingHTTPServer(("127.0.0.1", 0), partial(ShopHandler, directory=str(root)))
    threading.Thread(target=site.serve_forever, daemon=True).start()
    try:
        yield root, site.server_address[1]
    finally:
        site.shutdown()
        site.server_close()


@pytest.fixture(scope="module")
def omnicx(
    shop_site: tuple[Path, int], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """A live server whose browser source accepts the shop's origin (and only that)."""
    root, port = shop_site
    server = LiveServer(tmp_path_factory.mktemp("omnicx"))
    server.cli("sources", "set-origins", "live-test", "--origin", f"http://localhost:{port}")
    (root / "index.html").write_text(
        PAGE.format(
            key=server.write_key, api_host=server.url.removeprefix("http://"), user_id=USER_ID
        ),
        encoding="utf-8",
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _only_local(page: Any, allowed: tuple[str, ...], elsewhere: list[str]) -> None:
    """Refuse (and remember) any request to a host other than the two local servers."""

    def handle(route: Any, request: Any) -> None:
        if request.url.startswith(allowed):
            route.continue_()
        else:
            elsewhere.append(request.url)
            route.abort()

    page.route("**/*", handle)


def _customer(server: LiveServer, timeout: float = 20.0) -> dict[str, Any]:
    """The customer holding the identify's user id, once it has the three events."""
    deadline = time.monotonic() + timeout
    found: Any = None
    with server.api() as api:
        while time.monotonic() < deadline:
            found = api.get(
                "/api/v1/customers/lookup", params={"type": "user_id", "value": USER_ID}
            )
            if found.status_code == 200 and found.json()["event_count"] >= 3:
                customer_id = found.json()["id"]
                timeline = api.get(f"/api/v1/customers/{customer_id}/timeline").json()
                return {**found.json(), "timeline": timeline["items"]}
            time.sleep(0.2)
    raise AssertionError(f"no customer with 3 events for {USER_ID}: {found and found.text}")


def test_analytics_next_on_another_origin_delivers_page_track_and_identify(
    browser, shop_site, omnicx
):
    _, port = shop_site
    shop = f"http://localhost:{port}"
    elsewhere: list[str] = []
    page = browser.new_page()
    _only_local(page, (shop + "/", omnicx.url + "/"), elsewhere)
    tracking: list[str] = []
    page.on(
        "request", lambda r: tracking.append(f"{r.method} {r.url}") if "/v1/" in r.url else None
    )

    page.goto(shop + "/")
    result = page.evaluate("window.delivered")

    assert result["failed"] == [None, None, None], result
    assert elsewhere == [], f"the page asked another host for: {elsewhere}"
    paths = {line.split(omnicx.url, 1)[1] for line in tracking}
    assert {"/v1/p", "/v1/t", "/v1/i"} <= paths, tracking
    person = _customer(omnicx)
    kinds = {(item["type"], item.get("name")) for item in person["timeline"]}
    assert {("page", "首页"), ("track", "Product Viewed"), ("identify", None)} <= kinds, kinds
    identifiers = {(i["type"], i["value"]) for i in person["identifiers"]}
    assert ("anonymous_id", result["anonymousId"]) in identifiers, identifiers
    assert person["traits"]["name"] == "王芳"
    page.close()


def test_a_json_post_is_preflighted_and_only_the_allowed_origin_gets_through(
    browser, shop_site, omnicx
):
    """Chromium's own CORS check: from the allowed origin a preflighted post is stored;
    the same page on an origin the source does not allow cannot send at all."""
    _, port = shop_site
    script = """async ([url, key, user]) => {
      try {
        const r = await fetch(url, {method: "POST", headers: {"Content-Type": "application/json"},
          body: JSON.stringify({writeKey: key, userId: user, event: "Coupon Applied"})});
        return String(r.status);
      } catch (e) { return "blocked: " + e.message; }
    }"""
    allowed, refused = browser.new_page(), browser.new_page()
    allowed.goto(f"http://localhost:{port}/analytics-next.umd.js")
    refused.goto(f"http://127.0.0.1:{port}/analytics-next.umd.js")  # another origin
    args = [f"{omnicx.url}/v1/t", omnicx.write_key]
    assert allowed.evaluate(script, [*args, "crm-json-1"]) == "200"
    assert refused.evaluate(script, [*args, "crm-json-2"]).startswith("blocked")
    with omnicx.api() as api:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            found = api.get(
                "/api/v1/customers/lookup", params={"type": "user_id", "value": "crm-json-1"}
            )
            if found.status_code == 200:
                break
            time.sleep(0.2)
        assert found.status_code == 200, found.text
        missing = api.get(
            "/api/v1/customers/lookup", params={"type": "user_id", "value": "crm-json-2"}
        )
        assert missing.status_code == 404
    allowed.close()
    refused.close()
