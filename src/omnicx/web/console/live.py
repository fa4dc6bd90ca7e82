"""``GET /desk/live``: a signed-in agent's server-sent events, one per conversation that
changed and that they may see.

The contract ``static/console.js`` and the console's pages rely on::

    event: conversation
    data: {"id": 42}

    event: call
    data: {"call_id": "…", "conversation_id": 42, "customer_id": 7}

(``call``: a phone call ringing at or answered by this agent, sent to their streams only;
``conversation_id`` is null before the caller has a phone conversation.)

and a comment line (``: heartbeat``) every ``OMNICX_LIVE_HEARTBEAT_SECONDS`` (15 s), so
proxies keep the connection and the browser notices a dead one. The stream reads the
process's ``desk.live`` feed; nothing but ids goes out, and only of conversations the
agent's reach covers (re-read every minute, as is the account: a disabled account's
stream ends). It ends when the browser goes away and when the server shuts down
(``app.state.stopping``), and after ``MAX_SECONDS`` — the browser's EventSource
reconnects by itself, signed in again through the session cookie.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import orjson
from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from starlette.applications import Starlette

from omnicx.core.database import get_database
from omnicx.core.errors import Forbidden, Unauthenticated
from omnicx.core.settings import get_settings
from omnicx.desk.access import Reach, reach_of
from omnicx.desk.live import CallPopped, ConversationFeed, Listener
from omnicx.governance.permissions import Permission
from omnicx.governance.service import active_account
from omnicx.web.session import signed_in_principal

router = APIRouter(include_in_schema=False)

RECHECK_SECONDS = 60.0
MAX_SECONDS = 30 * 60.0
# How often a quiet stream looks whether the server is stopping.
TICK_SECONDS = 0.5
RETRY_MS = 2000


def desk_feed(app: Starlette) -> ConversationFeed:
    """This process's feed of changed conversations (made on first use)."""
    state = app.state
    if getattr(state, "desk_feed", None) is None:
        state.desk_feed = ConversationFeed(get_database())
    feed: ConversationFeed = state.desk_feed
    return feed


def _reach(user_id: int) -> Reach | None:
    """The user's reach now; None if their account was disabled meanwhile or their role
    no longer reads the desk."""
    with get_database().read() as session:
        principal = active_account(session, user_id)
        if principal is None or not principal.may(Permission.DESK_READ):
            return None
        return reach_of(session, principal)


@router.get("/desk/live")
async def desk_live(request: Request) -> StreamingResponse:
    principal = await run_in_threadpool(signed_in_principal, request)
    if principal is None:
        raise Unauthenticated("sign in to follow the desk")
    if not principal.may(Permission.DESK_READ):
        raise Forbidden("your role may not read the desk")
    reach = await run_in_threadpool(_reach, principal.id)
    if reach is None:
        raise Unauthenticated("sign in to follow the desk")
    return StreamingResponse(
        _events(request.app, principal.id, reach),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


async def _events(app: Starlette, user_id: int, reach: Reach) -> AsyncIterator[str]:
    """The stream; the response cancels it when the browser disconnects (the listener
    goes in ``finally``)."""
    feed = desk_feed(app)
    stopping = app.state.stopping
    listener = await feed.subscribe(reach)
    heartbeat = get_settings().live_heartbeat_seconds
    started = beat = checked = time.monotonic()
    try:
        yield f"retry: {RETRY_MS}\n\n"
        while not stopping.is_set():
            for item in await _next_ids(listener):
                if isinstance(item, CallPopped):
                    popped = {
                        "call_id": item.call_id,
                        "conversation_id": item.conversation_id,
                        "customer_id": item.customer_id,
                    }
                    yield f"event: call\ndata: {orjson.dumps(popped).decode()}\n\n"
                    continue
                data = orjson.dumps({"id": item}).decode()
                yield f"event: conversation\ndata: {data}\n\n"
            now = time.monotonic()
            if now - started >= MAX_SECONDS:
                return
            if now - beat >= heartbeat:
                beat = now
                yield ": heartbeat\n\n"
            if now - checked >= RECHECK_SECONDS:
                checked = now
                fresh = await run_in_threadpool(_reach, user_id)
                if fresh is None:
                    return
                listener.reach = fresh
    finally:
        feed.unsubscribe(listener)


async def _next_ids(listener: Listener) -> list[int | CallPopped]:
    """The ids waiting (at least one, unless ``TICK_SECONDS`` pass), without repeats."""
    try:
        first = await asyncio.wait_for(listener.queue.get(), TICK_SECONDS)
    except TimeoutError:
        return []
    ids = [first]
    while not listener.queue.empty():
        item = listener.queue.get_nowait()
        if item not in ids:
            ids.append(item)
    return ids
