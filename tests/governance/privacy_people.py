"""A person built from several identities through the tracking API, for the privacy tests.

Li Na browses the web shop anonymously, writes on WeChat (openid, her phone in the
context), opens an email, uses the app (another anonymous id, a device id); then she
signs in on the web (CRM id, email, phone, name, address) and the app aliases her
account, and she orders. Each call is processed on its own, so she is first four
customers, merged into one.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from omnicx.core.database import Database
from omnicx.identity.models import Customer, Identifier
from omnicx.identity.service import current_customer_id, identifier_hash
from tests.factories import call, process

EMAIL = "Li.Na@Example.com"
PHONE = "138 0013 8000"
NAME = "李娜"
ADDRESS = "上海市浦东新区世纪大道100号"
OPENID = "oLiNa0001openid"
CRM_ID = "crm-li-77"
WEB_ANON = "web-anon-li-5f2c"
APP_ANON = "app-anon-li-9d1e"
DEVICE = "device-li-7a7a"

# Every form a value of hers can take; none may survive an erasure anywhere.
SECRETS = (
    "li.na@example.com",
    EMAIL,
    "+8613800138000",
    "13800138000",
    PHONE,
    NAME,
    ADDRESS,
    OPENID,
    CRM_ID,
    WEB_ANON,
    APP_ANON,
    DEVICE,
)

# (type, value, scope) of each identifier, as a client would name it.
IDENTIFIERS = (
    ("email", EMAIL, ""),
    ("phone", PHONE, ""),
    ("wechat_openid", OPENID, "wxapp1"),
    ("user_id", CRM_ID, ""),
    ("anonymous_id", WEB_ANON, ""),
    ("anonymous_id", APP_ANON, ""),
    ("device_id", DEVICE, ""),
)


def li_na_calls() -> list[dict[str, Any]]:
    wechat = {
        "channel": "wechat",
        "traits": {"phone": PHONE},
        "externalIds": [{"type": "wechat_openid", "id": OPENID, "collection": "wxapp1"}],
    }
    return [
        call("page", 0, anonymousId=WEB_ANON, name="Home", context={"page": {"path": "/"}}),
        call(
            "track",
            1,
            anonymousId="wx-session-li",
            event="WeChat Message Received",
            properties={"text": f"我是{NAME}, 电话 {PHONE}"},
            context=wechat,
        ),
        call(
            "track",
            2,
            event="Email Opened",
            anonymousId="mail-li",
            context={"channel": "email", "traits": {"email": EMAIL}},
        ),
        call(
            "screen",
            3,
            anonymousId=APP_ANON,
            name="Cart",
            context={"device": {"id": DEVICE}, "app": {"name": "OmniShop"}},
        ),
        # Signing in ties the web visitor, the WeChat user and the email reader together…
        call(
            "identify",
            5,
            anonymousId=WEB_ANON,
            userId=CRM_ID,
            traits={"name": NAME, "email": EMAIL, "phone": PHONE, "address": ADDRESS},
        ),
        # …and the app's alias brings the app user in.
        call("alias", 6, userId=CRM_ID, previousId=APP_ANON),
        call(
            "track",
            12,
            userId=CRM_ID,
            event="Order Completed",
            properties={"order_id": "SO-1", "total": 299.0, "shipping_address": ADDRESS},
        ),
    ]


def send_li_na(
    client: Any, db: Database, write_key: str, calls: list[dict[str, Any]] | None = None
) -> int:
    """Send her calls one by one through the tracking API; returns her customer id."""
    for body in calls or li_na_calls():
        response = client.post("/v1/batch", json={"batch": [body]}, auth=(write_key, ""))
        assert response.status_code == 200, response.text
        process(db)
    return customer_of(db, "email", EMAIL)


def customer_of(db: Database, kind: str, value: str, scope: str = "") -> int:
    with db.read() as session:
        _, _, key = identifier_hash(kind, value, scope)
        found = session.scalar(select(Identifier.customer_id).where(Identifier.key_hash == key))
        assert found is not None, f"no customer holds {kind}"
        return current_customer_id(session, found)


def merged_ids(db: Database, survivor: int) -> set[int]:
    with db.read() as session:
        return {survivor} | set(
            session.scalars(select(Customer.id).where(Customer.merged_into_id == survivor))
        )


def hashes_of_li_na() -> set[bytes]:
    return {identifier_hash(kind, value, scope)[2] for kind, value, scope in IDENTIFIERS}
