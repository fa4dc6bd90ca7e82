"""``omnicx privacy`` (export, erasure, the suppression list) and ``omnicx retention``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from omnicx.cli.operator import operator
from omnicx.cli.progress import bar
from omnicx.core.database import get_database
from omnicx.core.errors import OmniError
from omnicx.core.serialization import dump_bytes
from omnicx.core.settings import get_settings
from omnicx.core.time import as_utc
from omnicx.governance import privacy, retention, suppression
from omnicx.governance.models import PrivacyRequest
from omnicx.runtime.privacy import wire

console = Console()
err = Console(stderr=True)
privacy_app = typer.Typer(
    help="Privacy requests (export, erasure) and the suppression list.", no_args_is_help=True
)
retention_app = typer.Typer(help="How long each kind of data is kept.", no_args_is_help=True)

CustomerOpt = Annotated[int | None, typer.Option("--customer", help="Customer id")]
TypeOpt = Annotated[str | None, typer.Option("--type", help="Identifier type, e.g. email")]
ValueOpt = Annotated[str | None, typer.Option("--value", help="Identifier value")]
ScopeOpt = Annotated[str, typer.Option("--identifier-scope", help="WeChat app id for openids")]
ReasonOpt = Annotated[str, typer.Option(help="Why (no personal data: it is kept)")]


def _fail(exc: OmniError) -> typer.Exit:
    err.print(f"[red]{exc.message}[/]")
    return typer.Exit(code=2)


def _open(
    kind: str, customer: int | None, kind_: str | None, value: str | None, reason: str, scope: str
) -> tuple[int, int]:
    """Record a request; returns (request id, how many events the person has)."""
    if (customer is None) == (kind_ is None or value is None):
        err.print("[red]name the person: --customer ID, or --type and --value[/]")
        raise typer.Exit(code=2)
    wire()
    database = get_database()
    with database.write() as session:
        row = privacy.open_request(
            session,
            kind,
            reason=reason,
            actor=operator(),
            customer_id=customer,
            identifier=(kind_, value, scope) if kind_ and value else None,
        )
        subject = privacy.registry.require_locator().subject(
            session, row.customer_id, for_erasure=False
        )
        return row.id, len(subject.event_seqs)


def _run(request_id: int, events: int, label: str) -> PrivacyRequest:
    with bar(label, events or None) as advance:
        return privacy.run_request(get_database(), request_id, operator(), advance)


@privacy_app.command("export")
def export_command(
    reason: ReasonOpt,
    out: Annotated[Path, typer.Option(help="Where to write the JSON bundle (mode 600)")],
    customer: CustomerOpt = None,
    type_: TypeOpt = None,
    value: ValueOpt = None,
    identifier_scope: ScopeOpt = "",
) -> None:
    """Export everything about a person (every merged identity) as a JSON bundle."""
    try:
        request_id, events = _open("export", customer, type_, value, reason, identifier_scope)
        _run(request_id, events, "compiling")
        with get_database().write() as session:
            row = privacy.get_request(session, request_id)
            with bar("exporting events", events or None) as advance:
                bundle = privacy.deliver_export(session, row, operator(), progress=advance)
    except OmniError as exc:
        raise _fail(exc) from exc
    # The bundle is personal data: readable by the owner only.
    descriptor = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(dump_bytes(bundle))
    console.print(f"request {request_id}: bundle of customer {row.customer_id} written to {out}")


@privacy_app.command("erase")
def erase_command(
    reason: ReasonOpt,
    customer: CustomerOpt = None,
    type_: TypeOpt = None,
    value: ValueOpt = None,
    identifier_scope: ScopeOpt = "",
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation")] = False,
) -> None:
    """Erase a person everywhere (every merged identity) and suppress their identifiers."""
    if not yes:
        typer.confirm("Erase this person's data for good?", abort=True)
    try:
        request_id, events = _open("erase", customer, type_, value, reason, identifier_scope)
        row = _run(request_id, events, "erasing")
    except OmniError as exc:
        raise _fail(exc) from exc
    colour = {"completed": "green", "in_progress": "yellow"}.get(row.status, "red")
    console.print(f"request {request_id}: [{colour}]{row.status}[/] {row.result or ''}")
    if row.status == "in_progress" and not row.error:
        console.print(
            "erased in the database; the request completes once the WAL is truncated "
            "(the workers retry; or `omnicx privacy run` again)"
        )
    if row.error:
        console.print(f"[red]{row.error}[/]")
        raise typer.Exit(code=1)


@privacy_app.command("run")
def run_command(request_id: int) -> None:
    """Process a received or failed request again (an erasure is idempotent)."""
    wire()
    try:
        row = _run(request_id, 0, "processing")
    except OmniError as exc:
        raise _fail(exc) from exc
    console.print(f"request {request_id}: {row.status} {row.error or ''}")


@privacy_app.command("list")
def list_command(
    status: Annotated[
        str | None, typer.Option(help="received, in_progress, completed, failed")
    ] = None,
    overdue: Annotated[bool, typer.Option(help="Only those past their deadline")] = False,
    limit: int = 50,
) -> None:
    """Privacy requests, newest first, with status and deadline."""
    table = Table("id", "kind", "customer", "status", "created", "due", "by", "result / error")
    with get_database().read() as session:
        for r in privacy.list_requests(session, status=status, overdue=overdue, limit=limit):
            due = as_utc(r.due_at).strftime("%Y-%m-%d")
            table.add_row(
                str(r.id),
                r.kind,
                str(r.customer_id),
                r.status,
                as_utc(r.created_at).strftime("%Y-%m-%d %H:%M"),
                f"[red]{due}[/]" if privacy.is_overdue(r) else due,
                r.requested_by,
                (r.error or r.result or "")[:80],
            )
    console.print(table)


@privacy_app.command("suppress")
def suppress_command(
    type_: Annotated[str, typer.Option("--type", help="Identifier type, e.g. email")],
    value: Annotated[str, typer.Option("--value", help="Identifier value (not stored)")],
    scope: Annotated[str, typer.Option(help="all (never ingest nor contact) or marketing")],
    reason: Annotated[str, typer.Option(help="A short code")] = "requested",
    identifier_scope: ScopeOpt = "",
) -> None:
    """Add an identifier to the suppression list (only its blind index is stored)."""
    wire()
    try:
        kind, key = privacy.registry.require_locator().identifier_key(
            type_, value, identifier_scope
        )
        with get_database().write() as session:
            _, added = suppression.add_suppression(session, key, kind, scope, reason, operator())
    except OmniError as exc:
        raise _fail(exc) from exc
    console.print("suppressed" if added else "already suppressed")


@privacy_app.command("suppressions")
def suppressions_command(
    scope: Annotated[str | None, typer.Option(help="all or marketing")] = None, limit: int = 50
) -> None:
    """The suppression list, newest first (types and reasons; values are never stored)."""
    table = Table("id", "type", "scope", "reason", "request", "by", "created")
    with get_database().read() as session:
        for s in suppression.list_suppressions(session, scope=scope, limit=limit):
            table.add_row(
                str(s.id),
                s.identifier_type,
                s.scope,
                s.reason,
                str(s.privacy_request_id or ""),
                s.actor,
                as_utc(s.created_at).strftime("%Y-%m-%d %H:%M"),
            )
    console.print(table)


@privacy_app.command("unsuppress")
def unsuppress_command(suppression_id: int) -> None:
    """Take an entry off the suppression list."""
    try:
        with get_database().write() as session:
            suppression.remove_suppression(session, suppression_id, operator())
    except OmniError as exc:
        raise _fail(exc) from exc
    console.print(f"suppression {suppression_id} removed")


@retention_app.command("run")
def retention_run_command(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Count, remove nothing")] = False,
) -> None:
    """Delete what is older than its kind's retention period, and report."""
    wire()
    settings = get_settings()
    kinds = list(settings.retention)
    with bar("retention", len(kinds)) as advance:
        run = retention.run_retention(
            get_database(),
            settings,
            operator(),
            dry_run=dry_run,
            progress=lambda _: advance(1),
        )
    assert run is not None  # only the schedule skips
    _print_report(run.id, dry_run, retention.report_of(run))


@retention_app.command("show")
def retention_show_command(limit: int = 10) -> None:
    """The policy and the latest runs."""
    settings = get_settings()
    policy = Table("kind", "days")
    for kind, days in settings.retention.items():
        policy.add_row(kind, "keep" if days is None else str(days))
    console.print(policy)
    with get_database().read() as session:
        for run in retention.recent_runs(session, limit):
            _print_report(run.id, run.dry_run, retention.report_of(run))


def _print_report(run_id: int, dry_run: bool, report: dict[str, object]) -> None:
    table = Table("kind", "days", "cutoff", "would remove" if dry_run else "removed", "also")
    for kind, entry in report.items():
        if not isinstance(entry, dict):
            table.add_row(kind, "", "", str(entry), "")
            continue
        table.add_row(
            kind,
            "keep" if entry.get("days") is None else str(entry["days"]),
            str(entry.get("cutoff") or "")[:10],
            str(entry.get("would_remove", entry.get("removed", ""))),
            ", ".join(f"{k} {v}" for k, v in (entry.get("also_removed") or {}).items()),
        )
    console.print(f"retention run {run_id}{' (dry run)' if dry_run else ''}")
    console.print(table)
