"""``omnicx outbox``: what is waiting to go out, and a signed test delivery."""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from omnicx.cli.tables import readable_table
from omnicx.core.database import get_database
from omnicx.core.outbox import STATUSES, OutboxMessage, enqueue
from omnicx.core.serialization import loads
from omnicx.core.settings import get_settings
from omnicx.core.time import utcnow
from omnicx.runtime.outbound import make_dispatcher

console = Console()
outbox = typer.Typer(help="Outbound deliveries (webhooks; channels later).", no_args_is_help=True)


@outbox.command("list")
def list_command(
    status: Annotated[str | None, typer.Option(help="pending, sent, dead or refused")] = None,
    limit: int = 50,
) -> None:
    """The latest outbox messages with their status and last error, and counts per status.

    Refused messages are those consent or the suppression list stopped; the last error
    says why.
    """
    if status is not None and status not in STATUSES:
        raise typer.BadParameter(f"one of {', '.join(STATUSES)}", param_hint="--status")
    table = readable_table(
        "id",
        "kind",
        "status",
        "to",
        "tries",
        "created",
        "last error",
        shares={"to": 3, "last error": 2},
    )
    with get_database().read() as session:
        counts: dict[str, int] = {
            state: n
            for state, n in session.execute(
                select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
            )
        }
        # Only the columns shown: payloads are decrypted for webhooks' URLs alone.
        stmt = (
            select(
                OutboxMessage.id,
                OutboxMessage.kind,
                OutboxMessage.status,
                OutboxMessage.customer_id,
                OutboxMessage.purpose,
                OutboxMessage.channel,
                OutboxMessage.attempts,
                OutboxMessage.created_at,
                OutboxMessage.last_error,
            )
            .order_by(OutboxMessage.id.desc())
            .limit(limit)
        )
        if status:
            stmt = stmt.where(OutboxMessage.status == status)
        rows = session.execute(stmt).all()
        urls = _webhook_urls(session, [m.id for m in rows if m.kind == "webhook"])
        for m in rows:
            table.add_row(
                str(m.id),
                m.kind,
                m.status,
                # Whom it concerns and why, over where a webhook goes.
                "\n".join(
                    part
                    for part in (_recipient(m.customer_id, m.purpose, m.channel), urls.get(m.id))
                    if part
                ),
                str(m.attempts),
                str(m.created_at)[:16].replace(" ", "\n", 1),
                escape((m.last_error or "")[:200]),
            )
    console.print(table)
    console.print("  ".join(f"{s}: {counts.get(s, 0)}" for s in STATUSES))


def _webhook_urls(session: Session, ids: list[int]) -> dict[int, str]:
    """Where each webhook goes: its URL, from the (decrypted) payload; never the secret."""
    if not ids:
        return {}
    found = session.execute(
        select(OutboxMessage.id, OutboxMessage.payload).where(OutboxMessage.id.in_(ids))
    )
    urls = {}
    for message_id, payload in found:
        try:
            url = loads(payload).get("url")
        except (ValueError, AttributeError):
            continue
        if isinstance(url, str):
            urls[message_id] = escape(url)
    return urls


def _recipient(customer_id: int | None, purpose: str | None, channel: str | None) -> str:
    """e.g. ``customer 7 marketing/sms``; empty for a plain webhook."""
    if customer_id is None and purpose is None:
        return ""
    who = f"customer {customer_id} " if customer_id is not None else ""
    return f"{who}{purpose}/{channel or '*'}"


@outbox.command("test-webhook")
def test_webhook_command(
    url: Annotated[str, typer.Argument(help="Where to POST the test event")],
    secret: Annotated[str | None, typer.Option(help="Signs the body (X-OmniCX-Signature)")] = None,
    wait: Annotated[float, typer.Option(help="Seconds to wait for the delivery")] = 30.0,
) -> None:
    """Queue a signed test delivery through the outbox and report what happened to it."""
    if not url.startswith(("http://", "https://")):
        raise typer.BadParameter("the URL must start with http:// or https://", param_hint="URL")
    database = get_database()
    with database.write() as session:
        message = enqueue(
            session,
            "webhook",
            {
                "url": url,
                "secret": secret,
                "body": {
                    "type": "omnicx.test",
                    "sent_at": utcnow().isoformat(),
                    "message": "A test delivery from OmniCX.",
                },
            },
        )
        session.flush()
        message_id = message.id
    dispatcher = make_dispatcher(database, get_settings())
    deadline = time.monotonic() + wait
    while True:
        dispatcher.dispatch_once()
        with database.read() as session:
            status, attempts, error = session.execute(
                select(
                    OutboxMessage.status, OutboxMessage.attempts, OutboxMessage.last_error
                ).where(OutboxMessage.id == message_id)
            ).one()
        if status != "pending" or time.monotonic() >= deadline:
            break
        time.sleep(0.5)
    colour = {"sent": "green", "dead": "red"}.get(status, "yellow")
    console.print(
        f"delivery {message_id}: [{colour}]{status}[/] after {attempts} attempt(s)"
        + (f" — {error}" if error else "")
    )
    if status != "sent":
        raise typer.Exit(code=1)
