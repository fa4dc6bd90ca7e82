"""A real IMAP server for the tests: Debian's Dovecot (``scripts/ensure-dovecot``),
configured in a temporary directory with one passwd-file user and run in the foreground
as the test's own process on a free port of 127.0.0.1."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

DOVECOT = "/usr/sbin/dovecot"
USER, PASSWORD = "support@shop.cn", "Qa8sWd3eRf6tGy1h"

CONFIG = """
instance_name = omnicx-test-{port}
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = 0
first_valid_gid = 0
mail_uid = {uid}
mail_gid = {gid}
mail_location = maildir:{root}/mail/%u
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users
}}
userdb {{
  driver = static
  args = home={root}/home/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = 0
  }}
}}
service submission-login {{
  inet_listener submission {{
    port = 0
  }}
}}
service lmtp {{
  unix_listener lmtp {{
    mode = 0666
  }}
}}
"""


@dataclass
class Imap:
    port: int
    user: str = USER
    password: str = PASSWORD


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def dovecot() -> Iterator[Imap]:
    """Dovecot on a free port until the block ends; skips when it is not installed."""
    if not os.access(DOVECOT, os.X_OK):
        pytest.skip(
            "Dovecot is not installed (scripts/ensure-dovecot: apt-get install dovecot-imapd)"
        )
    # Its own directory in /tmp: Dovecot's auth process (its own user) must reach the users
    # file, which pytest's private tmp_path would not let it.
    root = Path(tempfile.mkdtemp(prefix="omnicx-dovecot-"))
    port = _free_port()
    for sub in ("run", "state", "mail", "home"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    (root / "users").write_text(f"{USER}:{{PLAIN}}{PASSWORD}\n")
    # Dovecot's auth process runs as its own user: it must reach the (throwaway) users file.
    root.chmod(0o755)
    config = root / "dovecot.conf"
    uid, gid = os.getuid(), os.getgid()
    if uid == 0:  # Dovecot never reads mail as root: as its own user, then
        account = pwd.getpwnam("dovecot")
        uid, gid = account.pw_uid, account.pw_gid
        for sub in ("mail", "home"):
            os.chown(root / sub, uid, gid)
    config.write_text(CONFIG.format(root=root, port=port, uid=uid, gid=gid))
    process = subprocess.Popen(
        [DOVECOT, "-F", "-c", str(config)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            if process.poll() is not None:
                log = (root / "dovecot.log").read_text() if (root / "dovecot.log").exists() else ""
                output = process.stdout.read().decode() if process.stdout else ""
                raise AssertionError(f"dovecot did not start: {output}{log}")
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert time.monotonic() < deadline, "dovecot did not listen within 20 s"
            time.sleep(0.1)
        yield Imap(port)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        print((root / "dovecot.log").read_text()[-3000:]) if os.environ.get(
            "DOVECOT_DEBUG"
        ) else None
        shutil.rmtree(root, ignore_errors=True)
