"""``omnicx identity``: find a customer, their merges, unmerge and the review queue."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from omnicx.cli.operator import operator
from omnicx.cli.tables import readable_table
from omnicx.core.database import get_database
from omnicx.core.errors import OmniError
from omnicx.core.serialization import loads
from omnicx.customers.projection import split_customer
from omnicx.identity.models import Identifier
from omnicx.identity.service import (
    find_customer_by_identifier,
    identifier_hash,
    merge_history,
    open_conflicts,
)

console = Console()
errors = Console(stderr=True)
identity = typer.Typer(
    help="The identity graph: find, merges, unmerge, conflicts.", no_args_is_help=True
)


@identity.command("find")
def find_command(
    kind: Annotated[str, typer.Argument(metavar="TYPE", help="phone, email, user_id, ...")],
    value: Annotated[str, typer.Argument(help="Any spelling: it is normalised first")],
    scope: Annotated[str, typer.Option(help="Scope (e.g. the WeChat app id)")] = "",
) -> None:
    """Print the id of the customer who holds an identifier (only the id, for scripts)."""
    try:
        with get_database().read() as session:
            customer_id = find_customer_by_identifier(session, kind, value, scope)
    except OmniError as exc:
        errors.print(f"[red]{exc.message}[/]")
        raise typer.Exit(code=1) from exc
    typer.echo(customer_id)


@identity.command("merges")
def merges_command(
    customer_id: Annotated[int, typer.Argument(metavar="CUSTOMER", min=1, max=2**62)],
    ids: Annotated[
        bool,
        typer.Option(
            "--ids",
            help="Print only the ids of merges not undone, oldest first (exit 1 if none)",
        ),
    ] = False,
) -> None:
    """List the merges that made a customer (the id to give ``unmerge --merge-id``)."""
    try:
        with get_database().read() as session:
            merges = merge_history(session, customer_id)
    except OmniError as exc:
        errors.print(f"[red]{exc.message}[/]")
        raise typer.Exit(code=1) from exc
    if ids:
        standing = [merge.id for merge in merges if merge.undone_at is None]
        for merge_id in standing:
            typer.echo(merge_id)
        if not standing:
            raise typer.Exit(code=1)  # like grep: scripts can tell "none" from a list
        return
    if not merges:
        console.print(f"customer {customer_id}: no merges")
        return
    table = readable_table("merge", "into", "from", "brought", "why", "by", "when")
    for merge in merges:
        when = f"{merge.created_at:%Y-%m-%d %H:%M}"
        if merge.undone_at:
            when += f"\n[yellow]undone {merge.undone_at:%Y-%m-%d %H:%M}[/]"
        table.add_row(
            str(merge.id),
            str(merge.survivor_id),
            str(merge.merged_id),
            ", ".join(merge.brought),
            merge.reason,
            merge.actor,
            when,
        )
    console.print(table)


@identity.command("unmerge")
def unmerge_command(
    customer_id: int,
    reason: Annotated[str, typer.Option(help="Why (kept in the history)")],
    merge_id: Annotated[int | None, typer.Option(help="Undo this merge")] = None,
    identifier: Annotated[
        list[str] | None,
        typer.Option(
            "--identifier", help="TYPE:VALUE to split off, e.g. email:a@b.com (repeatable)"
        ),
    ] = None,
    actor: Annotated[str | None, typer.Option(help="Who decided (default: your OS user)")] = None,
) -> None:
    """Split identifiers, or an earlier merge, off a customer and re-attribute its history."""
    try:
        with get_database().write() as session:
            ids: list[int] = []
            for item in identifier or []:
                kind, sep, value = item.partition(":")
                if not sep:
                    raise typer.BadParameter(
                        f"{item!r} is not TYPE:VALUE", param_hint="--identifier"
                    )
                _, _, key = identifier_hash(kind, value)
                found = session.scalar(select(Identifier.id).where(Identifier.key_hash == key))
                if found is None:
                    raise typer.BadParameter(f"no identifier {item!r}", param_hint="--identifier")
                ids.append(found)
            record = split_customer(
                session,
                customer_id,
                identifier_ids=ids,
                merge_id=merge_id,
                reason=reason,
                actor=operator(actor),
            )
            new_ids = loads(record.new_customer_ids)
    except OmniError as exc:
        console.print(f"[red]{exc.message}[/]")
        raise typer.Exit(code=2) from exc
    console.print(f"customer {record.customer_id} split; new customer(s): {new_ids}")


@identity.command("conflicts")
def conflicts_command(limit: int = 50) -> None:
    """Links a guardrail refused (the review queue)."""
    table = Table("id", "link", "reason", "since")
    with get_database().read() as session:
        for conflict in open_conflicts(session, limit):
            table.add_row(
                str(conflict.id),
                str(conflict.link_id),
                conflict.reason,
                str(conflict.created_at)[:19],
            )
    console.print(table)
