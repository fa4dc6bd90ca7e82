"""``/docs`` works without internet: Swagger UI comes from the vendored files."""

from __future__ import annotations

import re
from urllib.parse import urlparse

import pytest

from tests.live_server import live_server


def test_docs_page_names_only_local_assets_and_they_are_served(client):
    page = client.get("/docs")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert len(assets) >= 3, page.text
    for asset in assets:
        assert urlparse(asset).netloc == "", f"{asset} is fetched from another host"
        assert client.get(asset).status_code == 200, asset
    assert "url: '/openapi.json'" in page.text
    assert client.get("/redoc").status_code == 404


@pytest.mark.slow
def test_docs_render_in_chromium_with_every_other_host_unreachable(browser, tmp_path):
    with live_server(tmp_path) as server:
        page = browser.new_page()
        elsewhere: list[str] = []

        def only_this_server(route, request):
            if request.url.startswith(server.url):
                route.continue_()
            else:
                elsewhere.append(request.url)
                route.abort()

        page.route("**/*", only_this_server)
        page.goto(server.url + "/docs")
        page.wait_for_selector(".swagger-ui .info .title", timeout=15_000)
        assert page.inner_text(".swagger-ui .info .title").startswith("OmniCX")
        page.wait_for_selector(".opblock-summary-path[data-path='/v1/identify']")
        assert elsewhere == []
        page.close()
