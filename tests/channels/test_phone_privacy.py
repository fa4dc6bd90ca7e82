"""A caller's erasure (SQLite and PostgreSQL): their calls' messages lose the recording
link and the transcript, their phone thread its number, their screen pops go; another
caller's stay. The phone channel's own tables hold no number to erase."""

from __future__ import annotations

import json

from sqlalchemy import select, text

from omnicx.desk.calls import CallPop
from omnicx.governance.users import get_user
from tests.channels.phone_helpers import CALLER, call, call_id, create_phone, post
from tests.desk.factories import make_agent
from tests.factories import make_token, process

OTHER = "+8613600136010"


def test_a_callers_erasure_takes_their_transcripts_links_and_pops(client, db):
    agent, _ = make_agent(db)
    with db.read() as session:
        email = get_user(session, agent).email
    phone = create_phone(db)
    admin = {"Authorization": f"Bearer {make_token(db, 'admin')}"}
    for number in (CALLER, OTHER):
        cid = call_id()
        post(client, phone, call("answered", cid, number=number, agent=email))
        post(client, phone, call("hangup", cid, number=number, duration=60))
        url = f"https://pbx.omnishop.cn/rec/{cid}.wav"
        post(client, phone, call("recording", cid, number=number, recording_url=url))
        post(client, phone, call("transcript", cid, number=number, transcript="请删除我的录音"))
    process(db)
    customer_id = client.get(
        "/api/v1/customers/lookup", params={"type": "phone", "value": CALLER}, headers=admin
    ).json()["id"]
    body = {"kind": "erase", "customer_id": customer_id, "reason": "本人申请删除"}
    assert client.post("/api/v1/privacy/requests", json=body, headers=admin).status_code == 201
    with db.read() as session:
        pops = list(session.scalars(select(CallPop.customer_id)))
        phone_rows = session.execute(text("SELECT * FROM phone_calls")).all()
    assert customer_id not in pops and len(pops) == 1
    assert CALLER not in json.dumps([list(map(str, r)) for r in phone_rows])
    listed = client.get("/api/v1/conversations", params={"channel": "phone"}, headers=admin)
    by_thread = {c["thread"]: c["id"] for c in listed.json()["items"]}
    assert CALLER not in by_thread and OTHER in by_thread

    def messages(conversation_id: int) -> list[dict]:
        path = f"/api/v1/conversations/{conversation_id}/messages"
        return list(client.get(path, headers=admin).json()["items"])

    [erased_id] = [i for t, i in by_thread.items() if t.startswith("erased:")]
    assert all(m["text"] == "" and m["attachments"] == [] for m in messages(erased_id))
    kept = messages(by_thread[OTHER])
    assert [m["text"] for m in kept][-1] == "请删除我的录音"
    assert kept[1]["attachments"][0]["type"] == "recording"
