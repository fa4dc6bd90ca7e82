"""A conversation for the console's page tests: a known customer (name, phone, orders)
writing to the 售后服务 team, agents of several roles in that team, one outside it, all
able to sign in (import from tests.web.console_scene)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from omnicx.desk.messages import Sender
from omnicx.governance.users import get_user
from tests.desk.factories import Customers, conversations, make_agent, make_rule
from tests.factories import append_calls, call, process

PASSWORD = "correct horse battery staple 1"  # tests.desk.factories.make_agent's
TEAM = "售后服务"
NAME, PHONE = "张伟华", "13800138000"
MASKED_NAME, MASKED_PHONE = "张**", "138****8000"


@dataclass
class Person:
    user_id: int
    email: str
    token: str


@dataclass
class Scene:
    conversation_id: int
    customer_id: int
    agent: Person  # the team's agent the conversation was routed to
    senior: Person  # a senior agent of the same team
    outsider: Person  # an agent of another team


def person(db, team: str | None, role: str = "agent", online: bool = True) -> Person:
    user_id, token = make_agent(db, team, role=role, online=online)
    with db.read() as session:
        email = get_user(session, user_id).email
    return Person(user_id, email, token)


def scene(db, orders: int = 5) -> Scene:
    agent = person(db, TEAM)
    senior = person(db, TEAM, "senior_agent", online=False)  # routing picks the agent
    outsider = person(db, "高级客服")
    make_rule(db, TEAM)
    people = Customers(db)
    calls = [
        call("identify", 0, userId="c-9", traits={"name": NAME, "phone": PHONE, "tags": ["高关怀"]})
    ]
    for n in range(orders):
        calls.append(
            call(
                "track",
                10 + n,
                userId="c-9",
                event="Order Completed",
                properties={"order_id": f"SO-{n + 1}", "total": 1299 + n, "currency": "CNY"},
            )
        )
    append_calls(db, people.source_id, calls)
    people.write(
        "我的空调不制冷了，电话13800138000", thread="c-9", sender=Sender(user_id="c-9"), minutes=60
    )
    process(db)
    [conversation] = conversations(db)
    assert conversation.assignee_id == agent.user_id
    return Scene(conversation.id, int(conversation.customer_id or 0), agent, senior, outsider)


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "the page has no CSRF token"
    return match.group(1)


def sign_in(client, who: Person) -> str:
    """Sign ``who`` in (anyone signed in before is signed out); their CSRF token."""
    client.cookies.clear()
    page = client.get("/login")
    signed = client.post(
        "/login",
        data={"email": who.email, "password": PASSWORD, "csrf": csrf_of(page.text), "next": "/"},
        follow_redirects=False,
    )
    assert signed.status_code == 303, signed.text
    return csrf_of(client.get("/").text)
