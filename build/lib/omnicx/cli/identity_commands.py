"""``omnicx identity``: unmerge and the review queue."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from omnicx.cli.operator import operator
from omnicx.core.database import get_database
from omnicx.core.errors import OmniError
from omnicx.core.serialization import loads
from omnicx.customers.projection import split_customer
from omnicx.identity.models import Identifier
from omnicx.identity.service import identifier_hash, open_conflicts

console = Console()
identity = typer.Typer(help="The identity graph: unmerge, conflicts.", no_args_is_help=True)


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
