"""The desk as the ticket page tests see it: 售后服务 with an agent and a customer's
conversation, another team's agent, a supervisor; people signed in on the pages."""

from __future__ import annotations

import re
from dataclasses import dataclass

from omnicx.desk.models import Conversation
from omnicx.governance.models import User
from tests.desk.factories import make_agent
from tests.desk.test_canned import _conversation
from tests.governance.masking_people import csrf_of

PASSWORD = "correct horse battery staple 1"  # tests.desk.factories.make_agent's
CUSTOMER_NAME = "张伟华"
CUSTOMER_PHONE = "13800138000"


@dataclass
class Desk:
    conversation: Conversation
    agent: int
    outsider: int
    supervisor: int


def desk(db) -> Desk:
    conversation, agent, _ = _conversation(db)
    outsider, _ = make_agent(db, "高级客服")
    supervisor, _ = make_agent(db, None, role="supervisor", online=False)
    return Desk(conversation, agent, outsider, supervisor)


def sign_in(client, db, user_id: int) -> None:
    """Sign whoever was signed in out, and this desk user in."""
    client.cookies.clear()
    with db.read() as session:
        email = session.get(User, user_id).email
    page = client.get("/login")
    signed = client.post(
        "/login",
        data={"email": email, "password": PASSWORD, "csrf": csrf_of(page.text), "next": "/"},
        follow_redirects=False,
    )
    assert signed.status_code == 303, signed.text


def open_ticket(client, **fields) -> int:
    """Open a ticket with the list page's form, as the signed-in user; its id."""
    page = client.get("/desk/tickets")
    form = {"title": "空调漏水，需上门维修", "type": "repair", "priority": "high"} | fields
    made = client.post(
        "/desk/tickets", data=form | {"csrf": csrf_of(page.text)}, follow_redirects=False
    )
    assert made.status_code == 303, made.text
    match = re.fullmatch(r"/desk/tickets/(\d+)", made.headers["location"])
    assert match, made.headers["location"]
    return int(match.group(1))


def post_on(client, ticket_id: int, path: str = "", **form):
    """A form of the ticket's page, sent with the page's CSRF token."""
    page = client.get(f"/desk/tickets/{ticket_id}")
    token = form.pop("csrf", None) or csrf_of(page.text)
    return client.post(
        f"/desk/tickets/{ticket_id}{path}", data=form | {"csrf": token}, follow_redirects=False
    )
