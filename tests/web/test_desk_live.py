"""``GET /desk/live`` against a live ``omnicx serve`` (SQLite and PostgreSQL), over real
HTTP: a customer's message reaches the stream of the agent who may see its conversation
and not the other team's; a transfer tells both; heartbeats keep a quiet stream alive;
signed-out and analyst streams are refused; a stream ends when the browser goes and when
the server shuts down."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from tests.live_server import LiveServer, live_server, live_server_on
from tests.web.desk_live_helpers import (
    AFTER_SALES,
    ANALYST,
    INVOICES,
    conversation_of,
    customer_writes,
    event_stream,
    ids_until,
    signed_in,
    staff,
)

pytestmark = pytest.mark.slow

HEARTBEAT = 3.0


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    # A short heartbeat: the quiet stream's test waits for one.
    settings = {"OMNICX_LIVE_HEARTBEAT_SECONDS": str(HEARTBEAT)}
    home = tmp_path_factory.mktemp("desk-live")
    with live_server_on(request.param, home, settings) as live:
        staff(live)
        yield live


def test_a_message_reaches_the_agent_who_may_see_it_and_no_other(server):
    with (
        event_stream(signed_in(server, AFTER_SALES)) as mine,
        event_stream(signed_in(server, INVOICES)) as theirs,
    ):
        assert mine.status == 200 and mine.headers["content-type"].startswith("text/event-stream")
        started = time.monotonic()
        thread = customer_writes(server, "你好，空调遥控器失灵了")
        conversation = conversation_of(server, thread)
        assert ids_until(mine, conversation["id"], 20)[-1:] == [conversation["id"]]
        # The other team's agent hears nothing of it; only the heartbeat.
        quiet = HEARTBEAT + 1.5 - (time.monotonic() - started)
        assert theirs.next_event(max(0.0, quiet)) is None
        assert ": heartbeat" in theirs.comments


def test_a_transfer_tells_the_team_it_leaves_and_the_team_it_joins(server):
    thread = customer_writes(server, "发票抬头需要修改")
    conversation = conversation_of(server, thread)
    with server.api() as api:
        teams = {t["name"]: t["id"] for t in api.get("/api/v1/teams").json()}
    with (
        event_stream(signed_in(server, AFTER_SALES)) as before,
        event_stream(signed_in(server, INVOICES)) as after,
        server.api() as api,
    ):
        moved = api.post(
            f"/api/v1/conversations/{conversation['id']}/assign",
            json={"team_id": teams["发票组"]},
        )
        assert moved.status_code == 200, moved.text
        assert ids_until(before, conversation["id"], 10)[-1:] == [conversation["id"]]
        assert ids_until(after, conversation["id"], 10)[-1:] == [conversation["id"]]


def test_streams_are_refused_without_a_session_or_desk_access(server):
    anonymous = httpx.get(f"{server.url}/desk/live", headers={"Accept": "text/event-stream"})
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["code"] == "unauthenticated"
    analyst = signed_in(server, ANALYST)
    refused = analyst.get("/desk/live", headers={"Accept": "text/event-stream"})
    analyst.close()
    assert refused.status_code == 403


def test_a_stream_ends_when_the_server_shuts_down(tmp_path):
    with live_server(tmp_path) as live:
        staff(live)
        with event_stream(signed_in(live, AFTER_SALES)) as stream:
            asked = time.monotonic()
            live.stop()  # SIGTERM: a graceful shutdown
            assert stream.ended_at is not None or _wait_end(stream, 5)
            assert stream.ended_at - asked < 5  # not the 10 s graceful timeout
        assert live.process is not None and live.process.returncode in (0, -15)
        log = live.log_tail(200)
        assert "Traceback" not in log and "timeout graceful shutdown exceeded" not in log


def _wait_end(stream, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while stream.ended_at is None and time.monotonic() < deadline:
        time.sleep(0.05)
    return stream.ended_at is not None
