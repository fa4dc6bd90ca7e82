"""``omnicx teams``, ``omnicx agents`` and ``omnicx desk``: who serves which queue, and
the desk's demo data."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from omnicx.cli.errors import fail
from omnicx.cli.progress import rebuild_in_chunks
from omnicx.cli.tables import readable_table
from omnicx.core.database import get_database
from omnicx.core.errors import OmniError
from omnicx.core.serialization import loads
from omnicx.desk.models import Message
from omnicx.desk.routing import RULE_KINDS, add_rule, drain_agent_queues, drain_queues, list_rules
from omnicx.desk.search import reindex_messages
from omnicx.desk.teams import (
    add_member,
    create_team,
    list_agents,
    list_teams,
    set_agent,
    set_presence,
    team_by_ref,
    team_sizes,
)
from omnicx.governance.users import list_users

console = Console()
teams_app = typer.Typer(help="Desk teams, their agents and routing rules.", no_args_is_help=True)
agents_app = typer.Typer(help="Desk agents: skills, capacity, presence.", no_args_is_help=True)
desk_app = typer.Typer(help="The service desk.", no_args_is_help=True)


def _user_id(session: Session, ref: str) -> int:
    """A user by id or e-mail."""
    if ref.isdigit():
        return int(ref)
    for user in list_users(session):
        if user.email == ref.strip().lower():
            return user.id
    raise fail(f"no user {ref!r} (give a user id or e-mail; see omnicx users list)")


@teams_app.command("list")
def teams_list() -> None:
    """Teams with their size, and the routing rules that feed them."""
    table = readable_table("id", "team", "agents", "description")
    rules = readable_table("position", "rule", "team", "skills", "priority")
    with get_database().read() as session:
        sizes = team_sizes(session)
        names = {}
        for team in list_teams(session):
            names[team.id] = team.name
            table.add_row(str(team.id), team.name, str(sizes.get(team.id, 0)), team.description)
        for rule in list_rules(session):
            what = {"tag": f"tag {rule.value}", "trait": f"{rule.key} = {rule.value}"}.get(
                rule.kind, "everyone else"
            )
            rules.add_row(
                str(rule.position),
                what,
                names.get(rule.team_id, str(rule.team_id)),
                " ".join(loads(rule.skills)),
                rule.priority or "",
            )
    console.print(table)
    console.print(rules)


@teams_app.command("create")
def teams_create(
    name: str, description: Annotated[str, typer.Option(help="What the team handles")] = ""
) -> None:
    """Create a team."""
    try:
        with get_database().write() as session:
            team = create_team(session, name, description)
            team_id = team.id
    except OmniError as exc:
        raise fail(exc.message) from exc
    console.print(f"team [bold]{name}[/] created (id {team_id})")


@teams_app.command("add-agent")
def teams_add_agent(
    team: Annotated[str, typer.Argument(help="Team id or name")],
    user: Annotated[str, typer.Argument(help="User id or e-mail")],
) -> None:
    """Put an agent in a team (their queue may move at once)."""
    try:
        with get_database().write() as session:
            found = team_by_ref(session, team)
            add_member(session, found, _user_id(session, user))
            moved = drain_queues(session, [found.id])
    except OmniError as exc:
        raise fail(exc.message) from exc
    console.print(f"{user} is in team {team}; {moved} waiting conversation(s) assigned")


@teams_app.command("route")
def teams_route(
    team: Annotated[str, typer.Argument(help="Team id or name")],
    tag: Annotated[str | None, typer.Option(help="Customers with this tag, e.g. 高关怀")] = None,
    trait: Annotated[str | None, typer.Option(help="key=value, e.g. loyalty_tier=gold")] = None,
    everyone: Annotated[bool, typer.Option("--everyone", help="The catch-all")] = False,
    skill: Annotated[list[str] | None, typer.Option(help="Required skill (repeat)")] = None,
    priority: Annotated[str | None, typer.Option(help="low, normal, high or urgent")] = None,
    position: Annotated[int, typer.Option(help="Rules are tried in this order")] = 100,
) -> None:
    """Send new conversations of matching customers to a team."""
    chosen = [k for k, v in (("tag", tag), ("trait", trait), ("always", everyone)) if v]
    if len(chosen) != 1:
        raise fail(f"give exactly one of --tag, --trait, --everyone ({', '.join(RULE_KINDS)})")
    key, _, value = (trait or "").partition("=")
    try:
        with get_database().write() as session:
            add_rule(
                session,
                team_by_ref(session, team),
                kind=chosen[0],
                key=key.strip(),
                value=(tag or value).strip(),
                skills=skill or [],
                priority=priority,
                position=position,
            )
    except OmniError as exc:
        raise fail(exc.message) from exc
    console.print(f"rule added: {chosen[0]} → {team}")


@agents_app.command("list")
def agents_list() -> None:
    """Agents with skills, capacity, presence and their unresolved conversations."""
    table = readable_table("id", "agent", "presence", "open / capacity", "skills")
    with get_database().read() as session:
        for row in list_agents(session):
            table.add_row(
                str(row.user_id),
                f"{row.display_name} <{row.email}>",
                row.presence,
                f"{row.open_conversations} / {row.capacity}",
                " ".join(row.skills),
            )
    console.print(table)


@agents_app.command("set")
def agents_set(
    user: Annotated[str, typer.Argument(help="User id or e-mail")],
    skill: Annotated[
        list[str] | None, typer.Option(help="kind:value, e.g. lang:zh (repeat; replaces all)")
    ] = None,
    capacity: Annotated[int | None, typer.Option(help="Most unresolved conversations")] = None,
    presence: Annotated[str | None, typer.Option(help="online, away or offline")] = None,
) -> None:
    """Set an agent's skills, capacity or presence."""
    try:
        with get_database().write() as session:
            user_id = _user_id(session, user)
            agent = set_agent(session, user_id, skills=skill, capacity=capacity)
            if presence is not None:
                set_presence(session, user_id, presence)
            moved = drain_agent_queues(session, user_id)
            skills = " ".join(loads(agent.skills))
            shown = f"capacity {agent.capacity}, {agent.presence}, skills {skills}"
    except OmniError as exc:
        raise fail(exc.message) from exc
    console.print(f"agent {user}: {shown}; {moved} waiting conversation(s) assigned")


@desk_app.command("reindex-messages")
def desk_reindex_messages() -> None:
    """Rebuild the message-text search index (after the blind-index key changed, or for
    messages stored before the index existed)."""
    database = get_database()
    with database.read() as session:
        total = session.scalar(select(func.count()).select_from(Message)) or 0
    rebuild_in_chunks(database, "index messages", total, reindex_messages)
    console.print(f"{total} messages indexed")


@desk_app.command("seed")
def desk_seed() -> None:
    """Demo teams, agents, routing rules and a few dozen conversations across channels."""
    seed_desk()


def seed_desk() -> None:
    """What ``omnicx desk seed`` and ``omnicx demo`` load for the desk."""
    from omnicx.cli.data_commands import _append_sync, ensure_schema
    from omnicx.cli.processing_commands import drain
    from omnicx.core.time import utcnow
    from omnicx.desk.demo import DEMO_PASSWORD, customer_calls, seed_activity, seed_staff
    from omnicx.desk.tickets.demo import seed_tickets
    from omnicx.ingest.sources import ensure_source
    from omnicx.ingest.tracking import to_log_event

    ensure_schema()
    database = get_database()
    with database.write() as session:
        agents = seed_staff(session)
        source_id = ensure_source(session, "desk-demo", kind="demo").id
    received = utcnow()
    events = [
        to_log_event(
            source_id, call, event_type=None, prefix="", received_at=received, sent_at=None
        )
        for call in customer_calls(received)
    ]
    append, close = _append_sync()
    append(events)
    if close:
        close()
    drain("threading conversations")
    with database.write() as session:
        worked = seed_activity(session)
        tickets = seed_tickets(session)
    drain("recording replies")
    console.print(
        f"[green]desk demo loaded:[/] {len(agents)} agents (password {DEMO_PASSWORD}),"
        f" {len(events)} events, {worked} conversations answered, {tickets} tickets"
    )
