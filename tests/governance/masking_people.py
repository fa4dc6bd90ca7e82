"""A customer with known personal data, and signed-in people of each role, for the
masking tests (import from tests.governance.masking_people)."""

from __future__ import annotations

import json
import re
from typing import Any

from sqlalchemy import select

from omnicx.governance.models import User
from omnicx.governance.service import SYSTEM
from omnicx.governance.users import create_user
from tests.factories import make_source, make_token, process

PASSWORD = "masking-tests-password-1"

PHONE = "+86 138 1234 8000"  # normalised: +8613812348000
EMAIL = "zhang.wei@example.com"
NAME = "张伟华"
BIRTHDAY = "1990-03-15"
ADDRESS = "上海市浦东新区张江路100号"
ID_CARD = "310101199003150011"  # sensitive: hidden from every role by default

# What must not appear where the role's policy masks personal data.
RAW_PERSONAL = {
    "phone": re.compile(r"138\D{0,3}1234\D{0,3}8000"),
    "email": re.compile(re.escape(EMAIL), re.IGNORECASE),
    "name": re.compile(NAME),
    "birthday": re.compile(r"1990\D03\D15"),
    "address": re.compile("浦东新区"),
}
RAW_SENSITIVE = re.compile(ID_CARD)
# What a masking role sees instead.
MASKED = {
    "phone": "138****8000",
    "email": "z***@example.com",
    "name": "张**",
    "birthday": "1990-**-**",
    "address": "上海市****",
}


def person_calls(orders: int = 2) -> list[dict[str, Any]]:
    """An identify with everything, a chat message quoting the phone, and ``orders`` orders."""
    calls: list[dict[str, Any]] = [
        {
            "type": "identify",
            "userId": "crm-masking-1",
            "messageId": "mask-identify",
            "timestamp": "2026-01-01T08:00:00Z",
            "traits": {
                "name": NAME,
                "phone": PHONE,
                "email": EMAIL,
                "birthday": BIRTHDAY,
                "address": ADDRESS,
                "id_card": ID_CARD,
                "city": "上海",
                "tier": "gold",
            },
        },
        {
            "type": "track",
            "userId": "crm-masking-1",
            "messageId": "mask-chat",
            "timestamp": "2026-01-01T09:00:00Z",
            "event": "WeChat Message Received",
            "properties": {"text": f"我的手机号是{PHONE.replace(' ', '')[3:]}，邮箱 {EMAIL}"},
            "context": {"channel": "wechat"},
        },
    ]
    for n in range(orders):
        order_id = f"SO-{n + 1:04d}"
        calls.append(
            {
                "type": "track",
                "userId": "crm-masking-1",
                "messageId": f"mask-order-{n}",
                "timestamp": f"2026-01-{n + 2:02d}T10:00:00Z",
                "event": "Order Completed",
                "properties": {
                    "order_id": order_id,
                    "total": 100.0 + n,
                    "currency": "CNY",
                    "products": [{"sku": f"SKU-{n}", "name": f"保温杯 {n}", "quantity": 1}],
                },
            }
        )
        calls.append(
            {
                "type": "track",
                "userId": "crm-masking-1",
                "messageId": f"mask-ship-{n}",
                "timestamp": f"2026-01-{n + 2:02d}T18:00:00Z",
                "event": "Order Shipped",
                "properties": {"order_id": order_id, "carrier": "顺丰速运"},
            }
        )
    return calls


def seed_person(client, db, orders: int = 2) -> int:
    """Send the person through the tracking API, run the pipeline; their customer id."""
    _, write_key = make_source(db)
    response = client.post("/v1/batch", json={"batch": person_calls(orders)}, auth=(write_key, ""))
    assert response.status_code == 200, response.text
    process(db)
    admin = token_for(db, "admin")
    found = client.get(
        "/api/v1/customers/lookup",
        params={"type": "user_id", "value": "crm-masking-1"},
        headers=admin,
    )
    assert found.status_code == 200, found.text
    return int(found.json()["id"])


def token_for(db, role: str) -> dict[str, str]:
    """Authorization headers with a new token of ``role``."""
    return {"Authorization": f"Bearer {make_token(db, role)}"}


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "form has no CSRF token"
    return match.group(1)


def sign_in_as(client, db, role: str) -> None:
    """Sign out whoever was signed in, then sign in as a person with ``role``."""
    client.cookies.clear()
    email = f"{role}@masking.test"
    with db.write() as session:
        if session.scalar(select(User.id).where(User.email == email)) is None:
            create_user(
                session, SYSTEM, email=email, display_name=role, role=role, password=PASSWORD
            )
    page = client.get("/login")
    signed = client.post(
        "/login",
        data={"email": email, "password": PASSWORD, "csrf": csrf_of(page.text), "next": "/"},
        follow_redirects=False,
    )
    assert signed.status_code == 303, signed.text


def body_text(response) -> str:
    """The body as a person or program would read it: JSON with its escapes undone."""
    if "json" in response.headers.get("content-type", ""):
        try:
            return json.dumps(response.json(), ensure_ascii=False)
        except ValueError:
            pass
    return response.text
