"""One progress bar style for every long command."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from sqlalchemy.orm import Session

from omnicx.core.database import Database


@contextmanager
def bar(description: str, total: int | None) -> Iterator[Callable[[int], None]]:
    """Yields ``advance(n)``."""
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, transient=False) as progress:
        task = progress.add_task(description, total=total)
        yield lambda n: progress.advance(task, n)


def rebuild_in_chunks(
    database: Database,
    description: str,
    total: int,
    step: Callable[[Session, int], int | None],
    chunk: int = 1000,
) -> None:
    """Run ``step(session, after)`` — which does the next ``chunk`` rows after id ``after``
    and returns the last id done, or None when none was left — one transaction per chunk,
    so a long rebuild never holds the write lock for long."""
    done, after = 0, 0
    with bar(description, total) as advance:
        while True:
            with database.write() as session:
                last = step(session, after)
            if last is None:
                return
            advance(min(chunk, max(total - done, 0)))
            done, after = done + chunk, last
