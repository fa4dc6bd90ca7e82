"""Tables that stay readable in an 80-column terminal.

Rich shrinks every column of a table wider than the terminal and cuts each cell to
``…``; these tables wrap long values onto more lines instead (``fold``), and spend no
width on vertical borders.
"""

from __future__ import annotations

from rich import box
from rich.table import Table


def readable_table(*headers: str, title: str | None = None) -> Table:
    """A table whose cells wrap (never cut to ``…``), with a light header rule only."""
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, title=title, title_justify="left")
    for header in headers:
        table.add_column(header, overflow="fold")
    return table
