"""CORS on the tracking API and the short paths analytics.js posts to.

A preflight carries no write key, so it is decided by the origins any source allows; the
request after it must still be allowed by its own source, because a ``text/plain`` post
needs no preflight at all. Nothing here ever allows credentials.
"""

from __future__ import annotations

import orjson
import pytest

from omnicx.core.database import Database
from omnicx.ingest.sources import create_source
from tests.factories import call, make_source
from tests.ingest.tracking_helpers import assert_error, stored

SHOP = "https://shop.example.cn"
ELSEWHERE = "https://evil.example.com"


def browser_source(db: Database, name: str, *origins: str) -> tuple[int, str]:
    with db.write() as session:
        source, key = create_source(session, name, origins=origins)
        return source.id, key


def preflight(client, path: str, origin: str, headers: str = "content-type"):
    return client.options(
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": headers,
        },
    )


def text_plain(client, path: str, body: dict, origin: str | None = None):
    """A post as analytics.js sends it: text/plain, the write key in the body."""
    headers = {"Content-Type": "text/plain"}
    if origin:
        headers["Origin"] = origin
    return client.post(path, content=orjson.dumps(body), headers=headers)


def test_preflight_from_an_allowed_origin_is_answered_without_credentials(client, db):
    browser_source(db, "website", SHOP)
    for path in ("/v1/p", "/v1/t", "/v1/i", "/v1/b", "/v1/track", "/v1/batch"):
        response = preflight(client, path, SHOP, "content-type")
        assert response.status_code == 204, (path, response.text)
        assert response.headers["access-control-allow-origin"] == SHOP
        assert "POST" in response.headers["access-control-allow-methods"]
        assert "content-type" in response.headers["access-control-allow-headers"].lower()
        assert "access-control-allow-credentials" not in response.headers
        assert "Origin" in response.headers["vary"]


def test_preflight_from_an_origin_no_source_allows_is_refused(client, db):
    browser_source(db, "website", SHOP)
    make_source(db, "server")  # no origins: a server-side source allows none
    response = preflight(client, "/v1/p", ELSEWHERE)
    assert_error(response, 403, "origin_not_allowed", "Origin")
    assert "access-control-allow-origin" not in response.headers
    # An origin differing only in scheme or port is another origin.
    for other in ("http://shop.example.cn", "https://shop.example.cn:8443"):
        assert "access-control-allow-origin" not in preflight(client, "/v1/t", other).headers


def test_short_paths_store_each_call_type_from_an_allowed_origin(client, db):
    source_id, key = browser_source(db, "website", SHOP)
    sent = {
        "/v1/p": call("page", anonymousId="a-1", name="首页"),
        "/v1/t": call("track", anonymousId="a-1", event="Product Viewed"),
        "/v1/i": call("identify", anonymousId="a-1", userId="u-1", traits={"name": "王芳"}),
        "/v1/s": call("screen", anonymousId="a-1", name="Cart"),
        "/v1/g": call("group", userId="u-1", groupId="acme"),
        "/v1/a": call("alias", userId="u-1", previousId="a-1"),
    }
    for path, body in sent.items():
        body.pop("type")
        response = text_plain(client, path, {**body, "writeKey": key}, SHOP)
        assert response.status_code == 200, (path, response.text)
        assert response.headers["access-control-allow-origin"] == SHOP
        assert "access-control-allow-credentials" not in response.headers
    batch = {"writeKey": key, "batch": [call("track", userId="u-1", event="Order Completed")]}
    response = text_plain(client, "/v1/b", batch, SHOP)
    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] == SHOP
    rows = stored(db)
    types = ["page", "track", "identify", "screen", "group", "alias", "track"]
    assert [r.type for r in rows] == types
    assert {r.source_id for r in rows} == {source_id}


def test_a_source_refuses_an_origin_it_does_not_allow_even_without_a_preflight(client, db):
    _, shop_key = browser_source(db, "website", SHOP)
    _, server_key = make_source(db, "crm")
    browser_source(db, "other-site", ELSEWHERE)
    body = call("track", userId="u-1")
    body.pop("type")
    # ELSEWHERE is allowed by another source, so the browser may read the refusal.
    refused = text_plain(client, "/v1/t", {**body, "writeKey": shop_key}, ELSEWHERE)
    assert_error(refused, 403, "origin_not_allowed", "Origin")
    assert "set-origins" in refused.json()["error"]["message"]
    # A server source allows no browser at all.
    refused = text_plain(client, "/v1/t", {**body, "writeKey": server_key}, SHOP)
    assert_error(refused, 403, "origin_not_allowed")
    assert stored(db) == []
    # Server-side senders send no Origin and are not affected.
    assert text_plain(client, "/v1/t", {**body, "writeKey": server_key}).status_code == 200
    # Nor is a page served by OmniCX itself (same origin).
    again = {**call("track", userId="u-1"), "writeKey": server_key}
    same = text_plain(client, "/v1/track", again, "http://testserver")
    assert same.status_code == 200, same.text
    assert len(stored(db)) == 2


def test_a_source_allowing_any_origin_accepts_every_page(client, db):
    _, key = browser_source(db, "landing-pages", "*")
    assert preflight(client, "/v1/p", ELSEWHERE).headers["access-control-allow-origin"] == (
        ELSEWHERE
    )
    body = call("page", anonymousId="a-1", name="Home")
    body.pop("type")
    response = text_plain(client, "/v1/p", {**body, "writeKey": key}, ELSEWHERE)
    assert response.status_code == 200, response.text
    assert "access-control-allow-credentials" not in response.headers


def test_unauthenticated_errors_are_readable_by_an_allowed_page(client, db):
    browser_source(db, "website", SHOP)
    body = call("track", userId="u-1", writeKey="wk_not-a-key")
    response = text_plain(client, "/v1/t", body, SHOP)
    assert_error(response, 401, field="writeKey")
    assert response.headers["access-control-allow-origin"] == SHOP


def test_short_paths_stay_out_of_the_openapi_schema(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert "/v1/track" in paths and "/v1/batch" in paths
    assert not {"/v1/p", "/v1/t", "/v1/i", "/v1/s", "/v1/g", "/v1/a", "/v1/b"} & set(paths)
    assert "403" in paths["/v1/track"]["post"]["responses"]


@pytest.mark.parametrize(
    "raw,expected",
    [
        ("https://Shop.Example.cn:443/", "https://shop.example.cn"),
        ("http://localhost:3000", "http://localhost:3000"),
        ("*", "*"),
    ],
)
def test_origins_are_stored_as_browsers_send_them(db, raw, expected):
    with db.write() as session:
        source, _ = create_source(session, "site", origins=[raw])
        assert orjson.loads(source.allowed_origins) == [expected]
