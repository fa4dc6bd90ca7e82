"""``omnicx keys``: make a key, see which keys seal the data, rotate to the active key."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from omnicx.cli.operator import operator
from omnicx.core.crypto import keyring, new_key
from omnicx.core.database import get_database
from omnicx.governance import audit
from omnicx.governance.keys import EncryptedColumn, key_usage, rotate
from omnicx.runtime.schema import load_all_models

keys = typer.Typer(help="Encryption keys of PII at rest", no_args_is_help=True)
console = Console()


@keys.command("new")
def keys_new(
    key_id: Annotated[str, typer.Option("--id", help="A short alphanumeric key id")] = "k1",
) -> None:
    """Print a new random key as an OMNICX_ENCRYPTION_KEYS entry."""
    if not key_id.isalnum() or len(key_id) > 16:
        raise typer.BadParameter("the id is up to 16 letters and digits", param_hint="--id")
    typer.echo(f"{key_id}:{new_key()}")
    console.print(
        "Put it first in OMNICX_ENCRYPTION_KEYS (keep the old keys after it), restart, "
        "then run [bold]omnicx keys rotate[/].",
        style="dim",
    )


@keys.command("status")
def keys_status() -> None:
    """Rows per key id in every encrypted column."""
    load_all_models()
    active = keyring().active
    table = Table("column", "key", "rows", "")
    for column, counts in key_usage(get_database()).items():
        if not counts:
            table.add_row(column, "-", "0", "")
        for key_id, rows in sorted(counts.items()):
            table.add_row(column, key_id, str(rows), "active" if key_id == active else "old")
    console.print(table)


@keys.command("rotate")
def keys_rotate(
    batch_size: Annotated[int, typer.Option(min=1, max=100_000)] = 1000,
) -> None:
    """Re-encrypt every value not sealed with the active (first) key, in batches."""
    load_all_models()
    database = get_database()
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, TimeElapsedColumn()) as progress:

        def on_column(column: EncryptedColumn, pending: int) -> Callable[[int], None]:
            task = progress.add_task(column.label, total=pending)
            return lambda n: progress.advance(task, n)

        done = rotate(database, batch_size, on_column)
    with database.write() as session:
        audit.record(
            session,
            operator(),
            "keys.rotate",
            target_type="key",
            target_id=keyring().active,
            detail={"rewritten": done},
        )
    console.print(f"{sum(done.values())} values now sealed with key [bold]{keyring().active}[/]")
