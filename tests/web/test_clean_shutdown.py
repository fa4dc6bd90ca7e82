"""A server stopped with SIGTERM closes its database: SQLite folds the WAL back into the
main file and removes it, so no page images (of an erased person, say) are left in a
``-wal`` file beside the database."""

from __future__ import annotations

import pytest

from tests.browser import send_calls, wait_for_events
from tests.factories import call
from tests.live_server import live_server

pytestmark = pytest.mark.slow


def test_sigterm_leaves_no_wal_behind(tmp_path):
    with live_server(tmp_path) as server:
        send_calls(
            server,
            [call("identify", i, userId=f"crm-{i}", traits={"name": "陈静"}) for i in range(20)],
        )
        wait_for_events(server, "user_id", "crm-19", 1)
        wal = tmp_path / "omnicx.db-wal"
        assert wal.exists() and wal.stat().st_size > 0  # the server is writing through it
        server.stop()  # SIGTERM
        # uvicorn ends by raising the SIGTERM it caught again, after its graceful shutdown.
        assert server.process is not None and server.process.returncode in (0, -15)
    assert not wal.exists() or wal.stat().st_size == 0, f"{wal.stat().st_size} bytes left"
    assert "Traceback" not in server.log_tail()
