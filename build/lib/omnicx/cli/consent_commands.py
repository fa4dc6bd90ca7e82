"""``omnicx consent``: see a customer's consent, record a decision (audited)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from omnicx.cli.operator import operator
from omnicx.core.database import get_database
from omnicx.core.errors import OmniError
from omnicx.customers.consent import consent_subject
from omnicx.governance.consent import (
    CHANNELS,
    EVERY_CHANNEL,
    PURPOSES,
    change_consent,
    consent_grid,
    decisions_of,
)

console = Console()
consent = typer.Typer(help="Consent per purpose and channel.", no_args_is_help=True)


@consent.command("show")
def show_command(
    customer_id: int,
    history: Annotated[int, typer.Option(help="How many past decisions to list")] = 20,
) -> None:
    """Consent per purpose and channel now, and the latest decisions."""
    try:
        with get_database().read() as session:
            subject = consent_subject(session, customer_id)
            decisions = decisions_of(session, subject)
    except OmniError as exc:
        console.print(f"[red]{exc.message}[/]")
        raise typer.Exit(code=2) from exc
    merged = sorted(subject.customer_ids - {subject.customer_id})
    console.print(
        f"customer {subject.customer_id}"
        + (f" (with merged {', '.join(map(str, merged))})" if merged else "")
    )
    grid = Table("purpose", *(EVERY_CHANNEL, *CHANNELS))
    for purpose, row in consent_grid(decisions).items():
        cells = []
        for status in row.values():
            word = "yes" if status.granted else "no"
            colour = "green" if status.granted else "red"
            # Parentheses: nothing recorded, the purpose's default applies.
            cells.append(f"[{colour}]{word}[/]" if status.decided_by else f"[dim]({word})[/]")
        grid.add_row(purpose, *cells)
    console.print(grid)
    console.print("(yes) / (no): nothing recorded, the default applies", style="dim")
    # One line per decision, unwrapped: notes are read whole (and grep-able).
    for d in reversed(decisions[-history:] if history > 0 else []):
        channel = "every channel" if d.channel == EVERY_CHANNEL else d.channel
        console.print(
            f"{d.occurred_at:%Y-%m-%d %H:%M}  {d.purpose} on {channel} "
            f"{'granted' if d.granted else 'withdrawn'}  ({d.source}, {d.actor or '-'})"
            + (f"  {d.note}" if d.note else ""),
            soft_wrap=True,
            markup=False,
        )


@consent.command("set")
def set_command(
    customer_id: int,
    purpose: Annotated[str, typer.Argument(help=", ".join(PURPOSES))],
    grant: Annotated[
        bool, typer.Option("--grant/--withdraw", help="Grant or withdraw the purpose")
    ],
    channel: Annotated[
        str, typer.Option(help=f"{EVERY_CHANNEL} or one of {', '.join(CHANNELS)}")
    ] = EVERY_CHANNEL,
    note: Annotated[str | None, typer.Option(help="Why, e.g. where the customer said it")] = None,
) -> None:
    """Record a decision the customer took (audited as consent.change)."""
    try:
        with get_database().write() as session:
            subject = consent_subject(session, customer_id)
            decision = change_consent(
                session, operator(), subject, purpose, channel, grant, note=note, source="cli"
            )
    except OmniError as exc:
        console.print(f"[red]{exc.message}[/]")
        raise typer.Exit(code=2) from exc
    console.print(
        f"customer {decision.customer_id}: {purpose} on {channel} "
        + ("[green]granted[/]" if grant else "[red]withdrawn[/]")
    )
