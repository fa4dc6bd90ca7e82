"""A follower's unionid on SQLite and PostgreSQL: fetched once per follower from the
user-info API of local stand-ins for WeChat (real HTTP servers checking the token),
put on the log with the openid, and the same person on two official accounts ends up
one customer. Errors: retried with backoff, or (48001) given up and logged once."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import select, update

from omnicx.channels.wechat.setup import create_wechat_channel
from omnicx.channels.wechat.users import USER_INFO_JOB
from omnicx.core.eventlog.models import EventRow
from omnicx.core.scheduler import Registry, Runner
from omnicx.core.scheduler.models import ScheduledJob
from omnicx.core.serialization import loads
from omnicx.core.time import utcnow
from omnicx.runtime.scheduling import wire_jobs
from tests.channels.wechat_helpers import (
    APP_ID,
    APP_SECRET,
    OPENID,
    TOKEN,
    Recorder,
    Wechat,
    event_xml,
    post,
    text_xml,
)
from tests.channels.wechat_helpers import wechat_api as local_wechat_api
from tests.factories import process
from tests.identity.graph_state import customer_of

# The shop's second official account (its after-sales service account).
OTHER_APP_ID = "wx7c2e9d4b1a6f3e8c"
OTHER_APP_SECRET = "4e6a8c0b2d4f6a8c0e2b4d6f8a0c2e4b"
OTHER_OPENID = "oHq9x5Bn2Kd7LwPz3RtYv8UcMeJf"
UNIONID = "o6_bmasdasdsad6_2sgVt7hMZOPfL"


@pytest.fixture
def shop() -> Iterator[Recorder]:
    with local_wechat_api() as recorder:
        yield recorder


@pytest.fixture
def after_sales() -> Iterator[Recorder]:
    with local_wechat_api(OTHER_APP_ID, OTHER_APP_SECRET) as recorder:
        yield recorder


def _channel(db, name: str, app_id: str, secret: str, api: Recorder, **extra: str) -> Wechat:
    with db.write() as session:
        channel = create_wechat_channel(
            session, name, app_id=app_id, app_secret=secret, token=TOKEN, api_base=api.url,
            **extra,
        )  # fmt: skip
        return Wechat(channel.id, channel.public_token, False)


def _run_jobs(db, settings) -> int:
    return Runner(db, wire_jobs(settings, Registry())).run_until_idle()


def _unionid_events(db) -> list[dict]:
    with db.read() as session:
        rows = session.scalars(select(EventRow.payload).where(EventRow.type == "identify"))
        return [loads(p) for p in rows]


def _jobs(db) -> list[ScheduledJob]:
    with db.read() as session:
        found = list(
            session.scalars(select(ScheduledJob).where(ScheduledJob.kind == USER_INFO_JOB))
        )
        session.expunge_all()
        return found


def test_one_person_on_two_accounts_is_one_customer(client, db, settings, shop, after_sales):
    shop_chat = _channel(db, "欧尼商城服务号", APP_ID, APP_SECRET, shop)
    service_chat = _channel(db, "欧尼售后服务号", OTHER_APP_ID, OTHER_APP_SECRET, after_sales)
    shop.unionids[OPENID] = UNIONID
    after_sales.unionids[OTHER_OPENID] = UNIONID
    # The follower writes to the shop's account and follows the after-sales one.
    assert post(client, shop_chat, text_xml("我的订单还没发货", 27_000_001)).text == "success"
    assert post(client, service_chat, event_xml("subscribe", OTHER_OPENID)).text == "success"
    process(db)
    first = customer_of(db, "wechat_openid", OPENID, APP_ID)
    second = customer_of(db, "wechat_openid", OTHER_OPENID, OTHER_APP_ID)
    assert first != second  # two openids: nothing says they are one person yet
    assert _run_jobs(db, settings) == 2
    assert shop.user_info_asked == [OPENID] and after_sales.user_info_asked == [OTHER_OPENID]
    events = _unionid_events(db)
    assert sorted(e["context"]["externalIds"][0]["id"] for e in events) == sorted(
        [OPENID, OTHER_OPENID]
    )
    shop_event = next(e for e in events if e["context"]["externalIds"][0]["id"] == OPENID)
    assert shop_event["context"]["externalIds"] == [
        {"type": "wechat_openid", "collection": APP_ID, "id": OPENID},
        {"type": "wechat_unionid", "collection": "", "id": UNIONID},
    ]
    process(db)
    one = customer_of(db, "wechat_unionid", UNIONID)
    assert customer_of(db, "wechat_openid", OPENID, APP_ID) == one
    assert customer_of(db, "wechat_openid", OTHER_OPENID, OTHER_APP_ID) == one
    # The follower writes again: their user info is not fetched again.
    assert post(client, shop_chat, text_xml("什么时候发货？", 27_000_002)).text == "success"
    process(db)
    assert _run_jobs(db, settings) == 0 and shop.user_info_asked == [OPENID]


def test_the_unionid_s_collection_is_the_channel_s_open_platform(client, db, settings, shop):
    chat = _channel(db, "服务号", APP_ID, APP_SECRET, shop, open_platform="omnishop-open")
    shop.unionids[OPENID] = UNIONID
    assert post(client, chat, event_xml("subscribe")).text == "success"
    process(db)
    _run_jobs(db, settings)
    process(db)
    [event] = _unionid_events(db)
    assert event["context"]["externalIds"][1] == {
        "type": "wechat_unionid", "collection": "omnishop-open", "id": UNIONID
    }  # fmt: skip
    assert customer_of(db, "wechat_unionid", UNIONID, "omnishop-open") == customer_of(
        db, "wechat_openid", OPENID, APP_ID
    )


def test_an_account_without_an_open_platform_adds_nothing(client, db, settings, shop):
    chat = _channel(db, "服务号", APP_ID, APP_SECRET, shop)
    assert post(client, chat, text_xml("你好", 27_000_010)).text == "success"
    process(db)
    assert _run_jobs(db, settings) == 1 and shop.user_info_asked == [OPENID]
    assert _unionid_events(db) == []
    assert [j.status for j in _jobs(db)] == ["done"]


def test_a_wechat_failure_is_retried_with_backoff(client, db, settings, shop):
    chat = _channel(db, "服务号", APP_ID, APP_SECRET, shop)
    shop.unionids[OPENID] = UNIONID
    shop.user_info_errors = [-1]  # system busy
    assert post(client, chat, text_xml("在吗", 27_000_020)).text == "success"
    process(db)
    _run_jobs(db, settings)
    [job] = _jobs(db)
    assert job.status == "pending" and job.attempts == 1 and "-1" in (job.last_error or "")
    assert _unionid_events(db) == []
    with db.write() as session:  # the backoff has passed
        session.execute(update(ScheduledJob).values(due_at=utcnow()))
    assert _run_jobs(db, settings) == 1
    assert len(_unionid_events(db)) == 1 and [j.status for j in _jobs(db)] == ["done"]


def test_an_account_without_the_permission_gives_up_and_logs_once(
    client, db, settings, shop, caplog
):
    chat = _channel(db, "服务号", APP_ID, APP_SECRET, shop)
    shop.user_info_errors = [48001, 48001]  # api unauthorized
    now = int(time.time())
    for n, openid in enumerate(("oFollowerA000000001", "oFollowerB000000002")):
        assert post(client, chat, event_xml("subscribe", openid, now - n)).text == "success"
    process(db)
    with caplog.at_level(logging.WARNING, logger="omnicx.channels.wechat.users"):
        assert _run_jobs(db, settings) == 2
    assert len(shop.user_info_asked) == 2 and _unionid_events(db) == []
    assert [j.status for j in _jobs(db)] == ["done", "done"]  # never retried
    warned = [r for r in caplog.records if "48001" in r.getMessage()]
    assert len(warned) == 1
