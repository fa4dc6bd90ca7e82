"""New sockets from one address are limited before anything reads the database."""

from __future__ import annotations

from omnicx.channels.service import create_channel
from omnicx.channels.webchat.limits import IP_CONNECT_BURST

SHOP = "https://shop.example.cn"


def test_too_many_new_sockets_from_one_address_are_refused(client, db):
    with db.write() as session:
        token = create_channel(session, "webchat", "客服", origins=[SHOP])[0].public_token
    url = f"/widget/ws?token={token}&lang=en"
    for _ in range(int(IP_CONNECT_BURST)):
        with client.websocket_connect(url, headers={"origin": SHOP}) as ws:
            assert ws.receive_json()["type"] == "welcome"
    with client.websocket_connect(url, headers={"origin": SHOP}) as ws:
        refused = ws.receive_json()
        assert refused["code"] == "too_many_connections"
        assert refused["message"] == "Too many chats from your network. Please try again later."
        closed = ws.receive()
    assert closed == {"type": "websocket.close", "code": 4429, "reason": ""}
