"""Who a CLI command acts as, for the audit log: the operator at the terminal."""

from __future__ import annotations

import getpass

from omnicx.governance.service import Principal


def operator(name: str | None = None) -> Principal:
    """``user:cli:<name>`` (default: the OS user) with admin rights: whoever can run the
    command on the server's machine and read its settings is an administrator already."""
    return Principal(kind="user", id=0, name=f"cli:{name or getpass.getuser()}", role="admin")
