"""``omnicx teams``, ``omnicx agents`` and ``omnicx desk seed`` through the real command."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import select
from typer.testing import CliRunner

from omnicx.cli.main import app
from omnicx.desk.sla.models import SlaClock
from omnicx.desk.sla.policies import list_policies
from omnicx.desk.tickets.models import Ticket, TicketComment
from tests.desk.factories import conversations, make_agent, messages


def omnicx(*args: str):
    result = CliRunner().invoke(app, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


def test_teams_and_agents(db):
    agent, _ = make_agent(db, None, online=False)
    assert omnicx("teams", "create", "售后服务", "--description", "维修").exit_code == 0
    again = omnicx("teams", "create", "售后服务")
    assert again.exit_code == 1 and "already" in again.output
    assert omnicx("teams", "add-agent", "售后服务", str(agent)).exit_code == 0
    assert (
        omnicx("teams", "route", "售后服务", "--tag", "高关怀", "--priority", "high").exit_code == 0
    )
    assert omnicx("teams", "route", "售后服务").exit_code == 1
    listed = omnicx("teams", "list").output
    assert "售后服务" in listed and "tag 高关怀" in listed
    done = omnicx(
        "agents", "set", str(agent), "--skill", "lang:zh", "--capacity", "3", "--presence", "online"
    )
    assert done.exit_code == 0, done.output
    agents = omnicx("agents", "list").output
    assert "lang:zh" in agents and "0 / 3" in agents and "online" in agents
    assert omnicx("agents", "set", "nobody@corp.cn", "--capacity", "1").exit_code == 1
    assert omnicx("agents", "set", str(agent), "--capacity", "-1").exit_code == 1


def test_desk_seed_fills_the_inbox_once(db):
    assert omnicx("desk", "seed").exit_code == 0
    seeded = conversations(db)
    assert len(seeded) >= 30
    assert set(Counter(c.channel for c in seeded)) >= {"wechat", "sms", "email", "webchat"}
    assert any(c.status == "resolved" for c in seeded)
    assert any("空调" in m.text for m in messages(db))
    # Response targets per team on a calendar of China's holidays; every conversation of
    # a team with a policy has its clocks, and agents opened tickets from their work.
    with db.read() as session:
        policies = {p.name: p.first_response_seconds for p in list_policies(session)}
        clocked = set(
            session.scalars(
                select(SlaClock.target_id).where(SlaClock.target_kind == "conversation")
            )
        )
        tickets = session.execute(select(Ticket.id, Ticket.type, Ticket.status)).all()
        commented = set(session.scalars(select(TicketComment.ticket_id)))
    assert set(policies) == {"高关怀客户响应", "售后服务响应", "订单与物流响应"}
    assert policies["高关怀客户响应"] == 600
    assert {c.id for c in seeded if c.team_id is not None} <= clocked
    assert [t.type for t in tickets] == ["repair", "invoice", "complaint"]
    assert commented == {t.id for t in tickets} and {t.status for t in tickets} == {"open"}
    count = len(messages(db))
    assert omnicx("desk", "seed").exit_code == 0
    assert len(conversations(db)) == len(seeded) and len(messages(db)) == count
    with db.read() as session:
        assert len(session.scalars(select(Ticket)).all()) == len(tickets)
        assert len(list_policies(session)) == len(policies)
