"""Tables that stay readable in an 80-column terminal.

Rich shrinks every column of a table wider than the terminal and cuts each cell to
``…``; these tables wrap long values onto more lines instead (``fold``), and spend no
width on vertical borders.
"""

from __future__ import annotations

from rich import box
from rich.table import Table


def readable_table(
    *headers: str, title: str | None = None, shares: dict[str, int] | None = None
) -> Table:
    """A table whose cells wrap (never cut to ``…``), with a light header rule only.

    ``shares``: the columns that split the terminal's width between them in these
    proportions (the others are as wide as their content); the table then fills the width.
    """
    shares = shares or {}
    table = Table(
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        title=title,
        title_justify="left",
        expand=bool(shares),
    )
    for header in headers:
        table.add_column(header, overflow="fold", ratio=shares.get(header))
    return table
