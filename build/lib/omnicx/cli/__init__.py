"""The ``omnicx`` command line (Typer + Rich)."""
