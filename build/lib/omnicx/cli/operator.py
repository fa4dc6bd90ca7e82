"""Who a CLI command acts as, for the audit log: the operator at the terminal."""

from __future__ import annotations

import getpass

from omnicx.governance.service import Principal


def _login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name (e.g. a container's uid without a passwd entry)
        return "unknown"


def operator(name: str | None = None, role: str = "admin") -> Principal:
    """``user:cli:<name>`` (default: the OS user), an admin unless ``role`` says otherwise:
    whoever can run the command on the server's machine and read its settings is an
    administrator already; a narrower ``role`` is for seeing data as that role sees it."""
    return Principal(kind="user", id=0, name=f"cli:{name or _login()}", role=role)
