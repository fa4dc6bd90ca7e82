"""``omnicx review``: the unmatched-sender and CRM-backfill queues at the terminal."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from omnicx.cli.operator import operator
from omnicx.cli.tables import readable_table
from omnicx.core.database import get_database
from omnicx.core.errors import OmniError
from omnicx.desk.review import backfill, unmatched
from omnicx.desk.review.views import backfill_out, unmatched_out
from omnicx.governance.audit import commit_entry

console = Console()
errors = Console(stderr=True)
review = typer.Typer(
    help="Review queues: unmatched senders to link, identifiers the CRM lacks.",
    no_args_is_help=True,
)
ItemId = Annotated[int, typer.Argument(metavar="ITEM", min=1, max=2**62)]
Note = Annotated[str, typer.Option(help="Why (kept with the item, encrypted)")]


@review.command("list")
def list_command(
    queue: Annotated[str, typer.Argument(help="unmatched or backfill")] = "unmatched",
    status: Annotated[str, typer.Option(help="open, all, or one status")] = "open",
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
) -> None:
    """List a queue's items (names and values masked as for the admin role; audited)."""
    if queue not in ("unmatched", "backfill"):
        errors.print("[red]the queue is unmatched or backfill[/]")
        raise typer.Exit(code=2)
    database, actor = get_database(), operator()
    wanted = None if status == "all" else status
    with database.read() as session:
        if queue == "unmatched":
            rows, entry = unmatched_out(
                session, actor, unmatched.list_unmatched(session, wanted, limit)
            )
            table = readable_table("id", "customer", "channel", "since", "status", "suggestions")
            for u in rows:
                suggested = "; ".join(
                    f"{s.customer_id} ({', '.join(r.code for r in s.reasons)})"
                    for s in u.suggestions
                )
                table.add_row(
                    str(u.id),
                    f"{u.customer_id} {u.name or ''}".strip(),
                    u.channel,
                    str(u.first_message_at)[:19],
                    u.status
                    if u.target_customer_id is None
                    else f"{u.status} → {u.target_customer_id}",
                    suggested,
                )
        else:
            items, entry = backfill_out(
                session, actor, backfill.list_backfill(session, wanted, limit)
            )
            table = readable_table("id", "type", "value", "source", "events", "last seen", "status")
            for b in items:
                table.add_row(
                    str(b.id),
                    b.identifier_type,
                    b.value or "",
                    b.source,
                    str(b.events),
                    str(b.last_seen_at)[:19],
                    b.status if b.resolved_by is None else f"{b.status} ({b.resolved_by})",
                )
    commit_entry(database, entry)
    console.print(table)


@review.command("link")
def link_command(
    item: ItemId, customer: Annotated[int, typer.Argument(min=1, max=2**62)], note: Note = ""
) -> None:
    """Link an unmatched sender to an existing customer (identity merges them)."""
    try:
        with get_database().write() as session:
            unmatched.link_unmatched(session, operator(), item, customer, note)
    except OmniError as exc:
        errors.print(f"[red]{exc.message}[/]")
        raise typer.Exit(code=1) from exc
    console.print(f"unmatched sender {item}: linking to customer {customer}")


@review.command("dismiss")
def dismiss_command(item: ItemId, note: Note = "") -> None:
    """Close an unmatched sender as a genuinely new customer."""
    try:
        with get_database().write() as session:
            unmatched.dismiss_unmatched(session, operator(), item, note)
    except OmniError as exc:
        errors.print(f"[red]{exc.message}[/]")
        raise typer.Exit(code=1) from exc
    console.print(f"unmatched sender {item}: dismissed")


@review.command("resolve")
def resolve_command(
    item: ItemId, note: Annotated[str, typer.Option(help="How it was resolved")]
) -> None:
    """Mark a backfill item resolved, saying how."""
    try:
        with get_database().write() as session:
            backfill.resolve_backfill(session, operator(), item, note)
    except OmniError as exc:
        errors.print(f"[red]{exc.message}[/]")
        raise typer.Exit(code=1) from exc
    console.print(f"backfill item {item}: resolved")
