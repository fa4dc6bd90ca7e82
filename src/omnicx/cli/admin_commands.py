"""``omnicx users``, ``omnicx tokens`` and ``omnicx audit``: administration from the shell.

Whoever runs the command has the database, so acts as an admin; the audit log names them
``user:cli:<os user>``.
"""

from __future__ import annotations

import csv
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy import select

from omnicx.cli.operator import operator
from omnicx.cli.progress import bar
from omnicx.cli.tables import readable_table
from omnicx.core.database import get_database
from omnicx.core.errors import OmniError
from omnicx.core.time import as_utc, parse_timestamp
from omnicx.governance import audit, users
from omnicx.governance.models import ROLES, User
from omnicx.governance.service import (
    create_token,
    list_tokens,
    revoke_token,
    token_scopes,
)

console = Console()
err = Console(stderr=True)
users_app = typer.Typer(help="People who sign in to the UI.", no_args_is_help=True)
tokens_app = typer.Typer(help="API tokens.", no_args_is_help=True)
audit_app = typer.Typer(help="The audit log: list, verify, export.", no_args_is_help=True)


def _fail(exc: OmniError) -> typer.Exit:
    err.print(f"[red]{exc.message}[/]")
    return typer.Exit(code=2)


def _when(value: datetime | None) -> str:
    return as_utc(value).strftime("%Y-%m-%d %H:%M") if value else ""


def _user_id(email: str) -> int:
    with get_database().read() as session:
        found = session.scalar(select(User.id).where(User.email == email.strip().lower()))
    if found is None:
        err.print(f"[red]no user {email}[/]")
        raise typer.Exit(code=2)
    return found


# -- users ---------------------------------------------------------------------------------


@users_app.command("create")
def users_create(
    email: str,
    role: Annotated[str, typer.Option(help=", ".join(ROLES))] = "agent",
    name: Annotated[str | None, typer.Option(help="Display name (default: the email)")] = None,
    password: Annotated[
        str | None, typer.Option(help="Initial password; omitted: one is generated and shown")
    ] = None,
) -> None:
    """Add a user who signs in with email and password."""
    try:
        with get_database().write() as session:
            user, generated = users.create_user(
                session,
                operator(),
                email=email,
                display_name=name or email,
                role=role,
                password=password,
            )
            user_id = user.id
    except OmniError as exc:
        raise _fail(exc) from exc
    console.print(f"user {user_id} {email.lower()} ({role}) created")
    if generated:
        console.print(f"password (shown once): [bold]{generated}[/]")


@users_app.command("list")
def users_list() -> None:
    """List users with their role and state."""
    table = Table("id", "email", "name", "role", "state", "2-step", "last sign-in")
    with get_database().read() as session:
        for u in users.list_users(session):
            state = "disabled" if u.disabled_at else "active"
            second = "yes" if u.totp_secret else ""
            last = _when(u.last_login_at)
            table.add_row(str(u.id), u.email, u.display_name, u.role, state, second, last)
    console.print(table)


def _update(email: str, *, role: str | None = None, disabled: bool | None = None) -> None:
    user_id = _user_id(email)
    try:
        with get_database().write() as session:
            users.update_user(session, operator(), user_id, role=role, disabled=disabled)
    except OmniError as exc:
        raise _fail(exc) from exc


@users_app.command("set-role")
def users_set_role(email: str, role: Annotated[str, typer.Argument(help=", ".join(ROLES))]) -> None:
    """Change a user's role (audited)."""
    _update(email, role=role)
    console.print(f"{email} is now {role}")


@users_app.command("disable")
def users_disable(email: str) -> None:
    """Stop a user from signing in; their open sessions end at their next request."""
    _update(email, disabled=True)
    console.print(f"{email} disabled")


@users_app.command("enable")
def users_enable(email: str) -> None:
    """Let a disabled user sign in again."""
    _update(email, disabled=False)
    console.print(f"{email} enabled")


@users_app.command("totp-reset")
def users_totp_reset(email: str) -> None:
    """Remove a user's second factor (a lost phone); they sign in with the password alone."""
    user_id = _user_id(email)
    with get_database().write() as session:
        users.reset_totp(session, operator(), user_id)
    console.print(f"{email}: two-step sign-in removed")


# -- tokens --------------------------------------------------------------------------------


@tokens_app.command("create")
def tokens_create(
    name: Annotated[str, typer.Option(help="What the token is for")] = "cli",
    role: Annotated[str, typer.Option(help=", ".join(ROLES))] = "admin",
    scope: Annotated[
        list[str] | None,
        typer.Option(help="Narrow to a permission, e.g. customers:read (repeatable)"),
    ] = None,
    user: Annotated[
        int | None,
        typer.Option(help="User id the token acts for (the desk shows that agent's conversations)"),
    ] = None,
) -> None:
    """Create an API token and print it (shown once, stored hashed)."""
    try:
        with get_database().write() as session:
            if user is not None:
                users.get_user(session, user)
            token = create_token(session, name, role, user, scopes=scope, actor=operator())
    except OmniError as exc:
        raise _fail(exc) from exc
    typer.echo(token)


@tokens_app.command("list")
def tokens_list(
    all: Annotated[bool, typer.Option("--all", help="Include revoked tokens")] = False,
) -> None:
    """List tokens (never the token itself: only its first characters)."""
    table = Table("id", "name", "prefix", "role", "scopes", "created", "revoked")
    with get_database().read() as session:
        for t in list_tokens(session, include_revoked=all):
            scopes = ", ".join(token_scopes(t) or ["(whole role)"])
            created, revoked = _when(t.created_at), _when(t.revoked_at)
            table.add_row(str(t.id), t.name, t.prefix + "…", t.role, scopes, created, revoked)
    console.print(table)


@tokens_app.command("revoke")
def tokens_revoke(token_id: int) -> None:
    """Revoke a token. Running servers stop accepting it within 30 seconds (their cache)."""
    try:
        with get_database().write() as session:
            revoke_token(session, operator(), token_id)
    except OmniError as exc:
        raise _fail(exc) from exc
    console.print(f"token {token_id} revoked")


# -- audit ---------------------------------------------------------------------------------


def _filter(
    actor: str | None,
    action: str | None,
    target_type: str | None,
    target_id: str | None,
    since: str | None,
    until: str | None,
) -> audit.AuditFilter:
    try:
        first = parse_timestamp(since) if since else None
        last = parse_timestamp(until) if until else None
    except ValueError as exc:
        raise typer.BadParameter("dates are ISO-8601, e.g. 2026-05-01T08:00") from exc
    return audit.AuditFilter(actor, action, target_type, target_id, first, last)


Actor = Annotated[str | None, typer.Option(help="e.g. user:li@corp.cn")]
Action = Annotated[str | None, typer.Option(help="an action, or a prefix ending in '.'")]
TargetType = Annotated[str | None, typer.Option(help="e.g. customer, user, token")]
TargetId = Annotated[str | None, typer.Option()]
Since = Annotated[str | None, typer.Option(help="from this time (ISO-8601, UTC if no zone)")]
Until = Annotated[str | None, typer.Option(help="before this time")]


@audit_app.command("list")
def audit_list(
    actor: Actor = None,
    action: Action = None,
    target_type: TargetType = None,
    target_id: TargetId = None,
    since: Since = None,
    until: Until = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
    before_id: Annotated[int | None, typer.Option(help="older than this entry")] = None,
) -> None:
    """Entries newest first (long cells wrap; ``audit export`` has every column)."""
    where = _filter(actor, action, target_type, target_id, since, until)
    # Two facts per cell (date over time, actor over address, action over target) keep
    # five columns, so the actor and the detail get the width that is left.
    table = readable_table(
        "id", "at (UTC)", "actor", "action", "detail", shares={"actor": 2, "detail": 3}
    )
    with get_database().read() as session:
        for e in audit.search(session, where, limit, before_id):
            what = escape(e.action)
            if e.target_type:
                target = f"{e.target_type} {e.target_id or ''}".strip()
                what += f"\n[dim]{escape(target)}[/]"
            who = escape(e.actor) + (f"\n[dim]{escape(e.ip)}[/]" if e.ip else "")
            detail = "\n".join(f"{k}: {v}" for k, v in audit.readable_detail(e))
            at = _when(e.at).replace(" ", "\n", 1)
            table.add_row(str(e.id), at, who, what, escape(detail))
    console.print(table)


@audit_app.command("verify")
def audit_verify() -> None:
    """Walk the hash chain; exits 1 if an entry was changed, removed or cut off."""
    with get_database().read() as session:
        report = audit.verify(session)
    if report.ok:
        console.print(f"[green]chain intact[/]: {report.checked} entries")
        return
    console.print(
        f"[red]chain broken at entry {report.broken_at}[/]: {report.problem} "
        f"({report.checked} entries before it are intact)"
    )
    raise typer.Exit(code=1)


@audit_app.command("export")
def audit_export(
    file: Annotated[Path, typer.Argument(help="CSV file to write")],
    actor: Actor = None,
    action: Action = None,
    target_type: TargetType = None,
    target_id: TargetId = None,
    since: Since = None,
    until: Until = None,
) -> None:
    """Write matching entries to a CSV file (the export is itself audited)."""
    where = _filter(actor, action, target_type, target_id, since, until)
    database = get_database()
    with database.write() as session:
        audit.record(session, operator(), "audit.export", detail=where.as_detail())
    with database.read() as session, file.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(audit.CSV_COLUMNS)
        written = 0
        with bar("export", audit.count(session, where)) as advance:
            for entry in audit.search_all(session, where):
                writer.writerow(audit.csv_row(entry))
                written += 1
                if written % 1000 == 0:
                    advance(1000)
            advance(written % 1000)
    console.print(f"{written} entries written to {file}")
